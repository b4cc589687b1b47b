"""Shared fixtures. The named people sit on the permission boundaries:

Alice owns Acme, Bob authors at Acme, Rita reviews at Acme, Mallory owns Globex and
must see nothing of Acme.
"""
