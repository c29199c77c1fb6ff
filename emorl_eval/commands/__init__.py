"""Thin click commands, one module per verb; ``cli.py`` registers them lazily.

A command parses options, calls one library function, prints the resulting table and writes
files. It holds no computation of its own.
"""
