"""Packaging: the build system and tool config are in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    name="tb_filters",
    version="0.1.0",
    description="Interpret the Conv1D filters of Keras text models, in TensorBoard",
    python_requires=">=3.10",
    packages=find_packages(include=["tb_filters", "tb_filters.*"]) + ["tb_filters.frontend"],
    # The tab's sources live in the top-level frontend/ and ship inside the package.
    package_dir={"tb_filters.frontend": "frontend"},
    package_data={
        "tb_filters": ["py.typed"],
        "tb_filters.plugin": ["http_api.md"],
        "tb_filters.format.proto": ["*.proto"],
        "tb_filters.frontend": ["*.js", "*.css", "**/*.js"],
    },
    install_requires=[
        "tensorboard>=2.16",
        "keras>=3.0",
        "numpy>=1.24",
        "protobuf>=6.31.1,<8",
        "h5py",
        "cachetools>=5",
    ],
    extras_require={
        # The writer side needs TensorFlow; the TensorBoard plugin does not.
        "tensorflow": ["tensorflow>=2.16"],
        "cpu": ["tensorflow-cpu>=2.16"],
        # jax: the engine under KERAS_BACKEND=jax (tests/engine/test_backends.py). The tests also need
        # tf_keras (the real Keras 2 Tokenizer that --tokenizer is checked against); the Makefile installs
        # it without dependencies, since it requires the `tensorflow` distribution, which would overwrite
        # tensorflow-cpu's files with a CUDA build that logs cuInit failures on stderr.
        "test": ["pytest>=8", "hypothesis>=6", "playwright>=1.40", "werkzeug", "jax[cpu]>=0.6",
                 # ipython: tensorboard.notebook's %tensorboard cell HTML in the notebook browser test.
                 "ipython>=8"],
        # tb_filters.beam and `tb-filters interpret --runner`; 2.77 is the version tested
        # (its DirectRunner would try Prism first: tb_filters.beam.runner builds the Python one).
        "beam": ["apache-beam>=2.77.0,<3"],
    },
    entry_points={
        "tensorboard_plugins": ["filters = tb_filters.plugin:FiltersPlugin"],
        "console_scripts": ["tb-filters = tb_filters.cli:main"],
    },
)
