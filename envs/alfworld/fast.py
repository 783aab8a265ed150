"""A faster TextWorld PDDL engine for ALFWorld: same text, commands and rewards, cached work.

Profiled, TextWorld's ``PddlEnv`` spends a step almost entirely in its text generator:
every admissible command's template and every feedback rule is re-parsed with tatsu, each
grammar condition and ``{x | query}`` is re-parsed as a logic query, and each symbol's
context is deep-copied (entity infos included). A ``load`` parses the whole grammar with
tatsu and translates the PDDL problem twice with fast-downward's Python translator; a
``reset`` translates it twice again. The work is pure: the same text always parses the
same way and the same domain + problem always translate the same way.

:class:`FastPddlEnv` is a ``PddlEnv`` subclass that keeps all of it and changes nothing
of TextWorld's for anyone else:

* parsed symbol strings, parsed queries and compiled ``{expression}`` code are cached by
  their text (:class:`Deriver`), and a derivation walks the parsed symbols without
  copying them; a derivation that reads no state (no condition, no query) is memoised per
  loaded game by its variable mapping;
* the grammar (:class:`~textworld.envs.pddl.logic.GameLogic`) is cached by domain +
  grammar text and the translated problem by domain + problem text (an LRU of
  :data:`CACHED_GAMES` games), so a reset, or a load of a game played before, loads the
  translation into fast-downward without translating again.

The derivation follows ``ContextSensitiveGrammar.derive`` rule for rule (first applicable
production, conditions and queries matched by ``State.all_assignments``, lists joined by
``list_separator`` / ``list_last_separator``, ``{expression}`` evaluated with the symbol's
variables as locals), so observations, admissible commands (same order), rewards and
``won`` are byte-identical; ``tests/envs/test_alfworld_fast.py`` replays games of every
task type through both engines to hold it to that.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping
from typing import Any, cast

import fast_downward
import textworld.envs.pddl.textgen as textgen
import textworld.logic
from textworld.core import GameState
from textworld.envs.pddl import PddlEnv
from textworld.envs.pddl import logic as pddl_logic
from textworld.envs.pddl.textgen import (
    ConditionalSymbol,
    CSGUnknownSymbolError,
    EvalSymbol,
    ListSymbol,
    NonterminalSymbol,
    Symbol,
    TerminalSymbol,
)
from textworld.logic import Placeholder, Proposition, Rule, Variable

#: Translated problems (and parsed grammars) kept per process, least recently used dropped
#: (about 1 MB each; agentrl's default pool is 120 games).
CACHED_GAMES = 128

# Names an ``{expression}`` cannot see as variables in TextWorld's ``EvalSymbol.derive``
# (its own locals win); an expression that mentions one is evaluated by TextWorld itself.
_SHADOWED = frozenset({"self", "context", "value"})

_LIST_EMPTY = NonterminalSymbol("list_empty")
_LIST_SEPARATOR = NonterminalSymbol("list_separator")
_LIST_LAST_SEPARATOR = NonterminalSymbol("list_last_separator")

Variables = dict[str, Any]
Bindings = dict[Placeholder, Variable]


class _Lru:
    """A small thread-safe LRU map for the per-process caches."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_logics = _Lru(CACHED_GAMES)
_translations = _Lru(CACHED_GAMES)
# Pure functions of text, shared by every game (bounded by the grammar's own strings).
_symbols: dict[str, list[Symbol]] = {}
_queries: dict[str, Rule] = {}
_code: dict[str, Any] = {}


def clear_caches() -> None:
    """Forget every cached grammar, translation and parse (the next load recomputes them)."""
    _logics.clear()
    _translations.clear()
    _symbols.clear()
    _queries.clear()
    _code.clear()


def parse_symbols(text: str) -> list[Symbol]:
    """TextWorld's parse of a symbol string (cached; the symbols returned must not be changed)."""
    symbols = _symbols.get(text)
    if symbols is None:
        symbols = textgen._parse_and_convert(text, rule_name="symbols")
        _symbols[text] = symbols
    return symbols


def parse_query(expression: str) -> Rule:
    """TextWorld's parse of a conjunctive query (cached)."""
    rule = _queries.get(expression)
    if rule is None:
        rule = Rule.parse_conjunctive_query(expression)
        _queries[expression] = rule
    return rule


def _compiled(expression: str) -> Any:
    code = _code.get(expression)
    if code is None:
        code = compile(expression, "<string>", "eval")
        _code[expression] = code
    return code


class Deriver:
    """``ContextSensitiveGrammar.derive`` over cached parses, without copying symbols or contexts.

    Args:
        grammar: The game's grammar (``GameLogic.grammar``); read, never changed.
        entity_infos: PDDL id → ``EntityInfo`` of the loaded game (variables bound by queries).
    """

    def __init__(self, grammar: textgen.ContextSensitiveGrammar, entity_infos: Mapping[str, Any]) -> None:
        self.rules = grammar._rules
        self.entity_infos = entity_infos
        self._pure: dict[str, bool] = {}  # by symbol string
        self._pure_rules: dict[str, bool] = {}  # by nonterminal name
        self._memo: dict[tuple[Any, ...], str] = {}

    # -------------------------------------------------------------- purity
    def is_pure(self, text: str) -> bool:
        """Whether deriving ``text`` never reads the state (no condition, no query), at any depth."""
        pure = self._pure.get(text)
        if pure is None:
            pure = all(self._symbol_is_pure(symbol) for symbol in parse_symbols(text))
            self._pure[text] = pure
        return pure

    def _symbol_is_pure(self, symbol: Symbol) -> bool:
        if isinstance(symbol, TerminalSymbol):
            return True
        if isinstance(symbol, NonterminalSymbol):
            name = str(symbol)
            pure = self._pure_rules.get(name)
            if pure is None:
                self._pure_rules[name] = True
                rules = self.rules.get(name) or []
                pure = bool(rules) and not rules[0].condition and all(map(self._symbol_is_pure, rules[0].rhs))
                self._pure_rules[name] = pure
            return pure
        if isinstance(symbol, ConditionalSymbol):
            return not symbol.given and self._symbol_is_pure(symbol.expression)
        if isinstance(symbol, EvalSymbol):
            return not _SHADOWED & set(_compiled(symbol.expression).co_names)
        return False  # a list queries the state

    # -------------------------------------------------------------- derive
    def derive(self, start: str, state: Any, variables: Variables, mapping: Bindings) -> str:
        """The text ``start`` derives to in ``state`` with these variables and placeholder bindings."""
        if self.is_pure(start):
            key = (start, *mapping.items())
            text = self._memo.get(key)
            if text is None:
                text = self._derive(start, state, variables, mapping)
                self._memo[key] = text
            return text
        return self._derive(start, state, variables, mapping)

    def _derive(self, start: str, state: Any, variables: Variables, mapping: Bindings) -> str:
        stack: list[tuple[Symbol, Variables, Bindings]] = [
            (s, variables, mapping) for s in reversed(parse_symbols(start))
        ]
        derived: list[str] = []
        while stack:
            symbol, variables, mapping = stack.pop()
            if isinstance(symbol, TerminalSymbol):
                derived.append(str(symbol.symbol))
            elif isinstance(symbol, NonterminalSymbol):
                rhs = self._production(symbol, state, mapping)
                stack.extend((s, variables, mapping) for s in reversed(rhs))
            elif isinstance(symbol, ConditionalSymbol):
                contexts = self._contexts(symbol, state, variables, mapping)
                stack.extend((symbol.expression, v, m) for v, m in reversed(contexts))
            elif isinstance(symbol, EvalSymbol):
                derived.append(str(self._eval(symbol, state, variables, mapping)))
            elif isinstance(symbol, ListSymbol):
                stack.extend(reversed(self._list(symbol, state, variables, mapping)))
            else:
                # TextWorld's grammar parser makes only the four kinds above; its derive raises here too.
                raise TypeError(f"unknown grammar symbol {type(symbol).__name__}; play with engine='reference'")
        return "".join(derived)

    def _production(self, symbol: NonterminalSymbol, state: Any, mapping: Bindings) -> list[Symbol]:
        # The first production whose condition holds (TextWorld filters all, then takes the first).
        rules = self.rules.get(str(symbol))
        if not rules:
            raise CSGUnknownSymbolError(symbol)
        for rule in rules:
            if (
                not rule.condition
                or next(iter(state.all_assignments(parse_query(rule.condition), mapping)), None) is not None
            ):
                return rule.rhs
        raise IndexError("list index out of range")  # what TextWorld's rules[0] raises

    def _contexts(
        self, symbol: ConditionalSymbol, state: Any, variables: Variables, mapping: Bindings
    ) -> list[tuple[Variables, Bindings]]:
        if not symbol.given:
            return [(variables, mapping)]
        contexts = []
        infos = self.entity_infos
        for found in state.all_assignments(parse_query(symbol.given), mapping):
            contexts.append(
                (
                    {**variables, **{ph.name: infos[var.name] for ph, var in found.items()}},
                    {**mapping, **found},
                )
            )
        return contexts

    def _eval(self, symbol: EvalSymbol, state: Any, variables: Variables, mapping: Bindings) -> Any:
        code = _compiled(symbol.expression)
        if _SHADOWED & set(code.co_names):
            context = {
                "state": state,
                "facts": list(state.facts),
                "variables": dict(variables),
                "mapping": dict(mapping),
                "entity_infos": self.entity_infos,
            }
            return EvalSymbol(symbol.expression).derive(context)[0].symbol
        return eval(code, vars(textgen), dict(variables))

    def _list(
        self, symbol: ListSymbol, state: Any, variables: Variables, mapping: Bindings
    ) -> list[tuple[Symbol, Variables, Bindings]]:
        inner = symbol.symbol
        if not isinstance(inner, ConditionalSymbol):
            # TextWorld's parser wraps only ``{...}`` in a list; anything else is a grammar this engine cannot read.
            raise TypeError(f"a list of {type(inner).__name__} in the grammar; play with engine='reference'")
        items = [(inner.expression, v, m) for v, m in self._contexts(inner, state, variables, mapping)]
        if not items:
            return [(_LIST_EMPTY, variables, mapping)]
        if len(items) == 1:
            return items
        out = []
        for item in items[:-1]:
            out += [item, (_LIST_SEPARATOR, variables, mapping)]
        out[-1] = (_LIST_LAST_SEPARATOR, variables, mapping)
        out.append(items[-1])
        return out


class _Translation:
    """What fast-downward's translator makes of a domain + problem (both encodings)."""

    def __init__(self, domain: str, problem: str) -> None:
        self.task, self.sas = fast_downward.pddl2sas(domain, problem, verbose=False)
        _, self.sas_replan = fast_downward.pddl2sas(domain, problem, verbose=False, optimize=True)


class CachedPddlState(pddl_logic.PddlState):
    """``PddlState`` built from a cached translation instead of translating again.

    Mirrors ``PddlState.__init__`` step for step (same facts added in the same order).
    """

    def __init__(self, downward_lib: Any, pddl_problem: str, logic: Any, translation: _Translation) -> None:
        self._facts: defaultdict[Any, set[Proposition]] = defaultdict(set)
        self._vars_by_name: dict[str, Variable] = {}
        self._vars_by_type: defaultdict[str, set[Variable]] = defaultdict(set)
        self._var_counts: Counter[Variable] = Counter()
        self._logic = logic
        self.downward_lib = downward_lib
        self.pddl_problem = pddl_problem
        self.task, self.sas, self.sas_replan = translation.task, translation.sas, translation.sas_replan
        self._actions = {a.name: a for a in self.task.actions}
        for type_ in self.task.types:
            try:
                self._logic.types.add(textworld.logic.Type(type_.name, type_.supertype_names))
            except ValueError:
                pass
        self.downward_lib.load_sas(self.sas.encode("utf-8"))
        self.downward_lib.load_sas_replan(self.sas_replan.encode("utf-8"))
        self.name2type = {o.name: o.type_name for o in self.task.objects}
        self.add_facts(self._initial_facts())
        atoms = (pddl_logic.Atom * self.downward_lib.get_state_size())()
        self.downward_lib.get_state(atoms)
        facts = [atom.get_fact(self.name2type) for atom in atoms]
        self.add_facts([fact for fact in facts if not fact.is_negation])

    def _initial_facts(self) -> list[Proposition]:
        name2type = self.name2type
        facts = []
        for atom in self.task.init:
            if isinstance(atom, fast_downward.translate.pddl.conditions.Atom):
                if atom.predicate == "=":
                    continue
                facts.append(Proposition(atom.predicate, [Variable(arg, name2type[arg]) for arg in atom.args]))
            elif isinstance(atom, fast_downward.translate.pddl.f_expression.Assign):
                if atom.fluent.symbol == "total-cost":
                    continue
                name = f"{atom.expression.value}"
                if str.isdigit(name):  # distance relations
                    continue
                facts.append(Proposition(name, [Variable(arg, name2type[arg]) for arg in atom.fluent.args]))
        return facts


class FastPddlEnv(PddlEnv):
    """TextWorld's ``PddlEnv`` with its pure work cached (see the module docstring); same game states.

    A drop-in replacement: wrap it with ALFWorld's ``AlfredDemangler`` as the package does.
    """

    def load(self, filename_or_data: str | Mapping[str, Any]) -> None:
        if isinstance(filename_or_data, Mapping):
            data, self._game_file = filename_or_data, None
        else:
            with open(filename_or_data) as f:
                data = json.load(f)
            self._game_file = filename_or_data
        self._game_data = data
        self.walkthrough = data.get("walkthrough", None)
        domain, grammar = data["pddl_domain"], data["grammar"]
        self._logic = _logics.get((domain, grammar))
        if self._logic is None:
            self._logic = pddl_logic.GameLogic(domain=domain, grammar=grammar)
            _logics.put((domain, grammar), self._logic)
        self._pddl_state = self._new_state()
        self._entity_infos = self._get_entity_infos()
        self._deriver = Deriver(self._logic.grammar, self._entity_infos)
        self._command_templates = sorted({action.template for action in self._logic.actions.values()})

    def _new_state(self) -> CachedPddlState:
        domain, problem = self._game_data["pddl_domain"], self._game_data["pddl_problem"]
        translation = _translations.get((domain, problem))
        if translation is None:
            translation = _Translation(domain, problem)
            _translations.put((domain, problem), translation)
        return CachedPddlState(self.downward_lib, problem, self._logic, translation)

    def _variables(self, mapping: Bindings) -> Variables:
        return {ph.name: self._entity_infos[var.name] for ph, var in mapping.items()}

    def _gather_infos(self) -> None:
        state, pddl_state = self.state, self._pddl_state
        state["command_templates"] = list(self._command_templates)
        state["won"] = pddl_state.check_goal()
        state["lost"] = False
        state["_entity_infos"] = dict(self._entity_infos)
        state["_facts"] = list(pddl_state.facts)
        if self.request_infos.facts:
            state["facts"] = list(map(self._get_human_readable_fact, state["_facts"]))
        state["last_action"] = None
        state["_last_action"] = self._last_action
        state["_valid_actions"] = actions = list(pddl_state.all_applicable_actions())

        names = {k: info.name for k, info in self._entity_infos.items()}
        derive = self._deriver.derive
        commands = []
        for action in actions:
            action.command_template = derive(
                action.command_template, pddl_state, self._variables(action.mapping), action.mapping
            )
            commands.append(action.format_command(names))
        state["_valid_commands"] = commands
        state["admissible_commands"] = sorted(set(commands))
        if self.request_infos.moves:
            state["moves"] = self._moves
        if self.request_infos.policy_commands:
            state["policy_commands"] = pddl_state.replan(self._entity_infos)

    def reset(self) -> GameState:
        self._pddl_state = self._new_state()
        self.prev_state = None
        self.state = GameState()
        self._last_action = None
        self._moves = 0
        self.state.feedback = self._deriver.derive("#intro#", self._pddl_state, {}, {})
        self.state.raw = self.state.feedback
        self._gather_infos()
        if "walkthrough" in self.request_infos.extras:
            self.state["extra.walkthrough"] = self.walkthrough or self._pddl_state.replan(self._entity_infos)
        return self.state

    def step(self, command: str) -> tuple[GameState, int, bool]:
        command = command.strip()
        self.prev_state = previous = cast(GameState, self.state)
        self.state = GameState()
        self.state.last_command = command
        self._last_action = None
        try:
            # As TextWorld: a command that is not admissible (ValueError) changes nothing.
            index = previous["_valid_commands"].index(command)
            self._last_action = action = previous["_valid_actions"][index]
            self._pddl_state.apply(action)
            variables = self._variables(action.mapping)
            self.state.feedback = self._deriver.derive(
                action.feedback_rule, self._pddl_state, variables, action.mapping
            )
            self._moves += 1
        except ValueError:
            self.state.feedback = "Nothing happens."
        self.state.raw = self.state.feedback
        self._gather_infos()
        if "walkthrough" in self.request_infos.extras:
            self.state["extra.walkthrough"] = previous["extra.walkthrough"]
        self.state["score"] = 1 if self.state["won"] else 0
        self.state["done"] = self.state["won"] or self.state["lost"]
        return self.state, self.state["score"], self.state["done"]
