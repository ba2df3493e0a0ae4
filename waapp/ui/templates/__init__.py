"""The Templates screen: the list, the detail pane and the message editor."""
