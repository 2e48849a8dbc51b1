"""The one ClickTime API v2 client and the transports it runs over."""
