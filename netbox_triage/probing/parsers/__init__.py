"""One parser module per family of probe sections; each turns hostile text into plain facts."""
