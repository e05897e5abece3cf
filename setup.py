"""Build hook: the gRPC stubs are generated from proto/ whenever the package is built or installed
(editable installs included). Everything else is in pyproject.toml."""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithStubs(build_py):
    def run(self) -> None:
        spec = importlib.util.spec_from_file_location("_rpc_build", HERE / "harness" / "rpc" / "build.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.generate()
        # the generated packages did not exist yet when setup() listed the packages
        from setuptools import find_namespace_packages

        generated = ["harness.rpc._gen"] + [f"harness.rpc._gen.{p}" for p in
                                            find_namespace_packages(where=str(HERE / "harness" / "rpc" / "_gen"))]
        self.packages = list(dict.fromkeys([*(self.packages or []), *generated]))
        super().run()


setup(cmdclass={"build_py": BuildWithStubs})
