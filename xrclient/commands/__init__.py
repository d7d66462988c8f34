"""The ``xrclient`` sub-commands: arguments in, one ``Settings`` or one service out."""
