"""The song editor's signal half (issue 17): raw/edit alignment to pointer sequences and edit
operations (`align`), and pointers back to audio with crossfaded joins (`assemble`). The learned
editor model comes on top of these; see pointers.py for the frame and pointer conventions."""
