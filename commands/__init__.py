"""The `cutout` command line, one module per command (commands/main.py holds the group). Commands use the
service side (runners, api, training); nothing there imports them."""
