"""clicktime-reconciler: GitOps for a ClickTime account."""

__version__ = "0.1.0"
