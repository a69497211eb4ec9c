"""dotbridge: a multiprocessing-compatible pool run by C#.

``import dotbridge as multiprocessing`` and use ``Pool`` as always.
"""
