"""Data package holding ``modelfile.lark``, the only definition of Modelfile syntax."""

from importlib.resources import files

GRAMMAR_FILE = "modelfile.lark"


def modelfile_grammar() -> str:
    """The text of the Modelfile grammar shipped with this package."""
    return files(__name__).joinpath(GRAMMAR_FILE).read_text(encoding="utf-8")
