"""The editor group: edit pairs (raw song, edited song) in <home>/edits and their alignment."""
