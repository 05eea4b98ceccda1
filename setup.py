"""Build hook: the wheel carries ``resources/`` (the sample project, icons) as
``annotator/_resources``, where ``annotator.core.appdirs.resources_dir`` looks in an installed
build. A source checkout reads ``resources/`` in place. Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads resources/ in place
        target = Path(self.build_lib) / "annotator" / "_resources"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(HERE / "resources", target)


setup(cmdclass={"build_py": BuildWithResources})
