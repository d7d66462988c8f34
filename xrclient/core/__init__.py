"""Core: the plant's state and rules as plain data and pure computation.

The twin store and its wire format, expressions and binding rules (:mod:`rules`), the
session room and its messages, results of training runs (:mod:`run_result`), the camera's
:class:`~xrclient.core.view.View`. Core imports nothing of xrclient above it, does no I/O
and reads no clock: times, files and sockets belong to the layers above, which pass values
in. ``make lint`` checks this (the import contracts in ``pyproject.toml``), and
``tests/unit/test_core_purity.py`` checks the calls the contracts cannot see.
"""
