"""The fold both runtimes share: events into a book, a book into outputs.

``fold.folder`` folds decoded events (and dead-letters bad input);
``fold.replay`` replays a whole file and computes the outputs. The offline
``availability replay`` and the streaming worker (``streams``) both run it.
"""
