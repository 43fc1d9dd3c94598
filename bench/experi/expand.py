# experi's own expansion of an experiment file, for bench/expand: the functions experi 0.x runs
# from `experi` to the list of unique commands (variable_matrix, process_command, Command,
# uniqueify), copied unchanged from experi's src/experi/run.py and src/experi/commands.py with
# what the expansion does not reach left out (the CLI, schedulers, running). experi imports
# click at module level for its CLI, which the expansion does not use: hence a copy, not an
# import.
#
# experi: https://github.com/malramsay64/experi
# MIT License, Copyright (c) 2018 Malcolm Ramsay (see LICENSE in this folder)
#
# Usage: python3 expand.py experiment.yml  -> prints the number of unique tasks
import logging
import sys
from collections import ChainMap
from itertools import chain, product
from string import Formatter
from typing import Any, Callable, Dict, Iterable, List, Set, Union

import numpy as np
import yaml

logger = logging.getLogger(__name__)
logger.setLevel("DEBUG")  # as experi's run.py does

YamlValue = Union[str, int, float]
CommandInput = Union[str, Dict[str, YamlValue]]
VarType = Union[YamlValue, List[YamlValue], Dict[str, YamlValue]]
VarMatrix = List[Dict[str, YamlValue]]


# --- src/experi/commands.py ---------------------------------------------------------------


class Command:
    """A command to be run for an experiment."""

    _cmd: List[str]
    variables: Dict[str, Any]
    _creates: str = ""
    _requires: str = ""
    __formatter = Formatter()

    def __init__(self, cmd, variables=None, creates="", requires="") -> None:
        if isinstance(cmd, str):
            self.cmd = [cmd]
        else:
            self.cmd = cmd
        if variables is not None:
            self.variables = variables
        else:
            self.variables = {}
        # variables in cmd are a subset of those passed in
        if self.get_variables() > set(self.variables.keys()):
            missing_vars = self.get_variables() - set(self.variables.keys())
            raise ValueError(f"The following variables have no value: {missing_vars}")
        self._creates = creates
        self._requires = requires

    def get_variables(self) -> Set[str]:
        variables = set()
        for cmd in self._cmd:
            for var in self.__formatter.parse(cmd):
                logger.debug("Checking variable: %s", var)
                if var[1] is not None and var[1] not in ["creates", "requires"]:
                    variables.add(var[1])
        return variables

    @property
    def creates(self) -> str:
        return self._creates.format(**self.variables)

    @property
    def requires(self) -> str:
        return self._requires.format(**self.variables)

    @property
    def cmd(self) -> List[str]:
        return [self._format_string(cmd) for cmd in self._cmd]

    @cmd.setter
    def cmd(self, value) -> None:
        if isinstance(value, str):
            self._cmd = [value]
        else:
            self._cmd = list(value)

    def _format_string(self, string: str) -> str:
        return string.format(creates=self.creates, requires=self.requires, **self.variables)

    def __eq__(self, other) -> bool:
        if isinstance(other, type(self)):
            return self.cmd == other.cmd
        return False

    def __hash__(self):
        return hash(tuple(self.cmd))


# --- src/experi/run.py --------------------------------------------------------------------


def combine_dictionaries(dicts: List[Dict[str, Any]]) -> Dict[str, Any]:
    return dict(ChainMap(*dicts))


def iterator_zip(variables: VarType, parent: str = None) -> Iterable[VarMatrix]:
    logger.debug("Yielding from zip iterator")
    if isinstance(variables, list):
        for item in variables:
            yield list(variable_matrix(item, parent, "zip"))
    else:
        yield list(variable_matrix(variables, parent, "zip"))


def iterator_product(variables: VarType, parent: str = None) -> Iterable[VarMatrix]:
    logger.debug("Yielding from product iterator")
    if isinstance(variables, list):
        raise ValueError(f"Product only takes mappings of values, got {variables} of type {type(variables)}")
    yield list(variable_matrix(variables, parent, "product"))


def iterator_chain(variables: VarType, parent: str = None) -> Iterable[VarMatrix]:
    logger.debug("Yielding from append iterator")
    if not isinstance(variables, list):
        raise ValueError(f"Append keyword only takes a list of arguments, got {variables} of type {type(variables)}")
    yield list(chain.from_iterable(variable_matrix(item, parent, "product") for item in variables))


def arange(start=None, stop=None, step=None, dtype=None) -> np.ndarray:
    if stop and not start:
        return np.arange(stop)
    return np.arange(start=start, stop=stop, step=step, dtype=dtype)


def iterator_arange(variables: VarType, parent: str) -> Iterable[VarMatrix]:
    assert parent is not None
    if isinstance(variables, (int, float)):
        yield [{parent: i} for i in np.arange(variables)]
    elif isinstance(variables, dict):
        if variables.get("stop"):
            yield [{parent: i} for i in arange(**variables)]
        else:
            raise ValueError("Stop is a required keyword for the arange iterator.")
    else:
        raise ValueError(f"The arange keyword only takes a dict as arguments, got {variables} of type {type(variables)}")


def iterator_cycle(variables: VarType, parent: str) -> Iterable[VarMatrix]:
    if isinstance(variables, dict):
        if variables.get("times"):
            times = int(variables["times"])
            del variables["times"]
            yield list(variable_matrix(variables, parent, "product")) * times
        else:
            raise ValueError("times is a required keyword for the repeat iterator.")
    else:
        raise ValueError(f"The repeat operator only takes a dict as arguments, got {variables} of type {type(variables)}")


def variable_matrix(variables: VarType, parent: str = None, iterator: str = "product") -> Iterable[Dict[str, YamlValue]]:
    _iters: Dict[str, Callable] = {"product": product, "zip": zip}
    _special_keys = {
        "zip": iterator_zip,
        "product": iterator_product,
        "arange": iterator_arange,
        "chain": iterator_chain,
        "append": iterator_chain,
        "cycle": iterator_cycle,
        "repeat": iterator_cycle,
    }
    if isinstance(variables, dict):
        key_vars: List[List[Dict[str, YamlValue]]] = []
        for key, function in _special_keys.items():
            if variables.get(key):
                item = variables[key]
                assert item is not None
                for val in function(item, parent):
                    key_vars.append(val)
                del variables[key]
        for key, value in variables.items():
            key_vars.append(list(variable_matrix(value, key, iterator)))
        logger.debug("key vars: %s", key_vars)
        for i in _iters[iterator](*key_vars):
            logger.debug("dicts: %s", i)
            yield combine_dictionaries(i)
    elif isinstance(variables, list):
        for item in variables:
            yield from variable_matrix(item, parent, iterator)
    else:
        assert parent is not None
        yield {parent: variables}


def uniqueify(my_list: Any) -> List[Any]:
    return list(dict.fromkeys(my_list))


def process_command(command: CommandInput, matrix: VarMatrix) -> List[Command]:
    assert command is not None
    if isinstance(command, (str, list)):
        command_list = [Command(command, variables=variables) for variables in matrix]
    else:
        cmd = command.get("command") if command.get("command") is not None else command.get("cmd")
        creates = str(command.get("creates", ""))
        requires = str(command.get("requires", ""))
        command_list = [Command(cmd, variables, creates, requires) for variables in matrix]
    return uniqueify(command_list)


# --- what `experi` does with a file, up to its list of unique commands ----------------------

if __name__ == "__main__":
    with open(sys.argv[1]) as stream:
        structure = yaml.safe_load(stream)
    matrix = list(variable_matrix(structure["variables"]))
    commands = process_command(structure["command"], matrix)
    sys.stdout.write("%d\n" % len(commands))
