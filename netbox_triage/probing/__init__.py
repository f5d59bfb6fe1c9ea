"""The SSH probe: the shell script, its section splitter and one parser per section family."""
