"""The package's version, declared here only: `tb_filters.__version__`, `tb-filters
--version` and the distribution's metadata (pyproject.toml reads this file
without importing the package) all come from this line."""

__version__ = "0.1.0"
