"""Packaging: the metadata, dependencies and entry points are in pyproject.toml;
this file says only which files ship, which the frontend's folder makes dynamic."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["tb_filters", "tb_filters.*"]) + ["tb_filters.frontend"],
    # The tab's sources live in the top-level frontend/ and ship inside the package.
    package_dir={"tb_filters.frontend": "frontend"},
    package_data={
        "tb_filters": ["py.typed"],
        "tb_filters.plugin": ["http_api.md"],
        "tb_filters.format.proto": ["*.proto"],
        "tb_filters.frontend": ["*.js", "*.css", "**/*.js"],
    },
)
