"""The auto attendant: menus callers choose from with their keypad."""
