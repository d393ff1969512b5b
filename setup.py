"""Build glue: the top-level templates/ folder ships inside the package as ``bot.templates``.

Everything else is in pyproject.toml. ``package_dir`` maps the one folder, so no symlink and no
copy is needed (both break on Windows or drift); the wheel and editable installs both read the
templates through ``importlib.resources.files("bot.templates")``.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["bot", "bot.*"], exclude=["*.__pycache__"]),
        "bot.templates",
        "bot.templates.web",
    ],
    package_dir={"bot.templates": "templates"},
    package_data={
        "bot.templates": ["*.j2", "*.toml"],
        "bot.templates.web": ["*"],
        "bot.migrations": ["script.py.mako"],
    },
)
