"""trtl."""
