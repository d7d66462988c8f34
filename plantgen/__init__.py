"""Build-time generators for the sample plants, kept out of the runtime package.

- :mod:`plantgen.shapes`: mesh-building blocks (finishes, styles, primitives, ``PartBuilder``),
- :mod:`plantgen.factory_models`: the procedural sample-factory models (trimesh),
- :mod:`plantgen.synthetic`: the demo scene text and the large synthetic plant of the
  benchmarks (``python -m plantgen.synthetic OUT_DIR --machines 2000``).

``scripts/make_assets.py`` writes ``assets/*.glb`` and ``scenes/demo-plant.toml`` with them;
the wheel ships those outputs, not this package. It is importable from a checkout (the
editable install puts the repository root on the path).
"""
