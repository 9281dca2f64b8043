"""Command line: ``recgym <command> ...``.

Each command is one ``add_<command>_parser(subparsers)`` function that declares its arguments and sets ``handler``
(a function of the parsed namespace returning an exit code); add a command by adding its function to
:data:`COMMANDS`. Errors recgym raises on purpose (:class:`~recgym.errors.RecgymError`) end the program with exit
code 2 and one line ``recgym: error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import ast
import errno
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recgym.benchmark import BenchmarkResult, parse_agents, plot_results, run_benchmark, write_report
from recgym.benchmark.loggers import LOGGERS
from recgym.benchmark.results import diff_runs
from recgym.benchmark.tuning import tune
from recgym.benchmark.validity import folders_leaderboard, format_folders_leaderboard
from recgym.data.schema import EventType
from recgym.datasets import load_dataset
from recgym.envs.mechanics import WORLD_PRESETS
from recgym.errors import InvalidOptionError, RecgymError
from recgym.evaluation import evaluate
from recgym.logs import silence_d3rlpy_logs
from recgym.saving import load_model
from recgym.version import __version__
from recgym.worlds import (
    CLICK_MODELS,
    calibrate,
    fit_world,
    headroom,
    load_world,
    log_sessions,
    logging_policy,
    make_world,
    write_calibration,
)

__all__ = ["COMMANDS", "add_dataset_arguments", "main", "parse_option"]


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a Python literal (``10``, ``0.5``, ``None``, ``True``) or else as text."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """``KEY=V1,V2,...`` with each value read as :func:`parse_option` reads one."""
    key, _ = parse_option(text)
    values = [parse_option(f"{key}={value}")[1] for value in text.partition("=")[2].split(",")]
    return key, values


def unique_keys(pairs: Sequence[tuple[str, Any]], flag: str) -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` options as a dict; a key given twice is an error (not the last one silently kept)."""
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key in values:
            raise InvalidOptionError(f"{flag} {key} given twice ({values[key]!r} and {value!r}): give it once")
        values[key] = value
    return values


def add_key_value_argument(parser: argparse.ArgumentParser, *flags: str, dest: str, help: str) -> None:
    """A repeatable ``KEY=VALUE`` option collected as a list of (key, value) pairs (:func:`parse_option`)."""
    parser.add_argument(
        *flags, dest=dest, action="append", type=parse_option, default=[], metavar="KEY=VALUE", help=help
    )


def add_dataset_arguments(parser: argparse.ArgumentParser, *, as_option: bool = False) -> None:
    """Arguments naming a processed dataset, shared by every command that loads one (``--dataset`` if ``as_option``)."""
    required: dict[str, Any] = {"required": True} if as_option else {}  # positionals refuse the keyword
    parser.add_argument(
        *(["--dataset"] if as_option else ["dataset"]),
        **required,
        nargs="+",
        help="synthetic, rc15, retailrocket, or log files: one or more paths of one format, or TYPE=PATH per file "
        "(click=views.csv purchase=buys.csv)",
    )
    parser.add_argument("--data-dir", help="raw files and cache (default: $RECGYM_DATA or ~/.cache/recgym)")
    parser.add_argument(
        "--cache-dir", help="folder of the processed datasets (default: $RECGYM_CACHE, else DATA_DIR/processed)"
    )
    parser.add_argument("--state-size", type=int, default=10, help="items per state (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of session sampling and the split (default: 0)")
    add_key_value_argument(
        parser,
        "-o",
        "--option",
        dest="options",
        help="protocol, reward, reader or generator option, e.g. -o n_sessions=5000 -o reward_click=0.1 (repeatable)",
    )


def dataset_input(values: Sequence[str]) -> Any:
    """The positional dataset values as ``load_dataset`` takes them: a name or path, a list, or {event type: paths}."""
    typed = [value.partition("=") for value in values]
    if all(sep and kind.upper() in EventType.__members__ for kind, sep, _ in typed):
        files: dict[str, list[str]] = {}
        for kind, _, path in typed:
            files.setdefault(kind.lower(), []).append(path)
        return files
    return values[0] if len(values) == 1 else list(values)


def _load(args: argparse.Namespace):
    return load_dataset(
        dataset_input(args.dataset),
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        state_size=args.state_size,
        seed=args.seed,
        progress=not args.quiet,
        **unique_keys(args.options, "-o"),
    )


def format_stats(stats: dict[str, Any]) -> str:
    """Dataset statistics as text: settings and totals, then one table row per split."""

    def show(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = [f"{key:<22}{show(value)}" for key, value in stats.items() if key != "splits"]
    splits = stats.get("splits", {})
    if splits:
        columns = list(next(iter(splits.values())))
        widths = [max(len(column), *(len(show(row[column])) for row in splits.values())) for column in columns]
        lines.append("")
        lines.append("split  " + "  ".join(column.rjust(width) for column, width in zip(columns, widths)))
        for name, row in splits.items():
            lines.append(
                f"{name:<7}" + "  ".join(show(row[column]).rjust(width) for column, width in zip(columns, widths))
            )
    return "\n".join(lines)


def _run_prepare(args: argparse.Namespace) -> int:
    dataset = _load(args)
    print(f"{dataset!r}\ncache: {dataset.cache_dir}")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    dataset = _load(args)
    print(format_stats(dataset.stats()))
    print(f"cache                 {dataset.cache_dir}")
    return 0


def add_prepare_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prepare", help="read a raw log, run the protocol and cache the transitions")
    add_dataset_arguments(parser)
    parser.set_defaults(handler=_run_prepare)


def add_info_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="print the statistics of a dataset (prepares it when needed)")
    add_dataset_arguments(parser)
    parser.set_defaults(handler=_run_info)


def _run_calibrate(args: argparse.Namespace) -> int:
    dataset = _load(args)
    world = fit_world(
        dataset, smoothing=args.smoothing, click_model=args.click_model, click_steps=args.click_steps,
        click_seed=args.click_seed, progress=not args.quiet,
    )  # fmt: skip
    report = calibrate(dataset, world, n_sessions=args.sessions, seed=args.sim_seed)
    paths = write_calibration(report, world, args.out)
    print(Path(paths[1]).read_text().split("\n![")[0].rstrip())
    print(f"\nwritten: {', '.join(str(path) for path in paths)}")
    return 0


def add_calibrate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="fit a world to a log's train split and compare its simulated sessions with the test split"
    )
    add_dataset_arguments(parser)
    parser.add_argument("--out", required=True, help="folder for calibration.md/.json/.png and the fitted world.npz")
    parser.add_argument("--smoothing", type=float, default=1.0, help="the click chain's pseudo-counts (default: 1)")
    parser.add_argument(
        "--click-model", choices=CLICK_MODELS, default="markov",
        help="next-click model: the Markov chain over clicks, or a SASRec trained on the train clicks (default: markov)",
    )  # fmt: skip
    parser.add_argument(
        "--click-steps", type=int, default=2000, help="the SASRec click model's updates (default: 2000)"
    )
    parser.add_argument("--click-seed", type=int, default=0, help="the SASRec click model's seed (default: 0)")
    parser.add_argument("--sessions", type=int, help="simulated sessions (default: as many as the test split)")
    parser.add_argument("--sim-seed", type=int, default=0, help="the simulated users' random stream (default: 0)")
    parser.set_defaults(handler=_run_calibrate)


def _run_benchmark(args: argparse.Namespace) -> int:
    baseline = None if args.baseline.lower() == "none" else args.baseline
    result = run_benchmark(
        dataset_input(args.dataset), parse_agents(args.agents), baseline=baseline, grid=unique_keys(args.grid, '--grid'),
        **_run_options(args),
    )  # fmt: skip
    return _print_report(result)


def _run_ablate(args: argparse.Namespace) -> int:
    result = run_benchmark(
        dataset_input(args.dataset), [], ablate=args.agent, ablation_reference=args.reference, **_run_options(args)
    )
    return _print_report(result)


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`run_benchmark` that ``benchmark`` and ``ablate`` share."""
    return {
        "seeds": args.seeds, "steps": args.steps, "eval_every": args.eval_every, "device": args.device,
        "out": args.out, "top_n_checkpoints": args.top_n, "select_by": args.select_by, "preset": args.preset,
        "agent_options": unique_keys(args.agent_options, "-a"), "executor": args.executor, "jobs": args.jobs,
        "ray_address": args.ray_address, "online": args.online, "world": args.world, "state_every": args.state_every,
        "loggers": args.loggers or ("file",), "progress": not args.quiet, "splits": args.splits,
        "data_dir": args.data_dir, "cache_dir": args.cache_dir, "state_size": args.state_size, "seed": args.seed,
        **unique_keys(args.options, '-o'),
    }  # fmt: skip


def _print_report(result: BenchmarkResult) -> int:
    print((result.out_dir / "results.md").read_text())
    if result.figures:
        print("figures:", *result.figures, sep="\n  ")
    return 0


def add_benchmark_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="train agents over seeds, select checkpoints on val, report test as a table and curves (resumable)",
    )
    add_dataset_arguments(parser, as_option=True)
    parser.add_argument(
        "--agents",
        default="sasrec,sqn,snqn,sa2c,co,ccql",
        help="comma-separated agents: names (agents.AGENTS, d3rlpy's dqn, double_dqn, nfq, discrete_cql, discrete_bcq, "
        "discrete_sac, discrete_bc; baselines popularity, random, sknn, vsknn, oracle with --online) or module:ConfigClass, each optionally labelled "
        "LABEL=SPEC (e.g. bcq=d3rlpy.algos:DiscreteBCQConfig) (default: sasrec,sqn,snqn,sa2c,co,ccql)",
    )
    parser.add_argument(
        "--baseline", default="sasrec", help="agent label every other agent is compared with, or none (default: sasrec)"
    )
    _add_run_arguments(parser)
    parser.add_argument(
        "--grid",
        action="append",
        type=parse_grid,
        default=[],
        metavar="KEY=V1,V2,...",
        help="values to cross with agents and seeds, keys as -a (e.g. ccql.n_negatives=10,30,50); repeatable, crossed",
    )
    parser.set_defaults(handler=_run_benchmark)


def add_ablate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ablate",
        help="one-factor ablation of an agent: its loss components switched on one at a time, then each schedule "
        "or optimiser setting in which it differs from the reference, one row each (resumable)",
    )
    parser.add_argument("agent", metavar="AGENT", help="an agent with loss components (sqn, snqn, sa2c, co, ccql...)")
    add_dataset_arguments(parser, as_option=True)
    parser.add_argument(
        "--reference", default="sasrec", help="agent whose settings the setting rows take (default: sasrec)"
    )
    _add_run_arguments(parser)
    parser.set_defaults(handler=_run_ablate)


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``benchmark`` and ``ablate`` share: seeds, budget, folder, selection, agent options, executors,
    online evaluation."""
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per agent (default: 5)")
    parser.add_argument(
        "--splits", type=int, default=1, metavar="N",
        help="session cross-validation: the benchmark on each of N folds (OUT/fold<k>), pooled in OUT (default: 1)",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, required=True, help="gradient steps per run")
    parser.add_argument("--eval-every", type=int, required=True, help="steps between val evaluations / checkpoints")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--out", required=True, help="results folder; rerun the same command to resume")
    parser.add_argument(
        "--state-every",
        type=int,
        default=1,
        metavar="N",
        help="save each run's training state every N evaluations, to resume an interrupted run from (0: never; "
        "default: 1)",
    )
    parser.add_argument("--top-n", type=int, default=5, help="val checkpoints averaged by the top-n selection")
    parser.add_argument("--select-by", help="val metric ranking checkpoints (default: reward@20)")
    parser.add_argument(
        "--preset", metavar="NAME|FILE",
        help="agent settings: a preset (rc15, retailrocket, synthetic; default: the dataset's, else synthetic) or a "
        "preset file (the preset.json of recgym tune)",
    )  # fmt: skip
    add_key_value_argument(
        parser,
        "-a",
        "--agent-option",
        dest="agent_options",
        help="agent option: -a hidden_size=32 for every trained agent with that field, -a LABEL.FIELD=VALUE for one "
        "(repeatable)",
    )
    parser.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="where runs execute (default: local)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="local processes running runs in parallel (default: 1)")
    parser.add_argument("--ray-address", help="address of a running Ray cluster (default: start a local Ray)")
    parser.add_argument(
        "--logger",
        dest="loggers",
        action="append",
        choices=tuple(LOGGERS),
        help="where d3rlpy's training metrics go: file (CSV in each run folder), tensorboard, wandb; "
        "repeatable (default: file)",
    )
    parser.add_argument(
        "--online",
        type=int,
        metavar="N",
        nargs="?",
        const=2000,
        help="also evaluate online on N simulated sessions (default N: 2000): in the world that wrote the log (the "
        "synthetic dataset, a slate log), or in --world",
    )
    parser.add_argument(
        "--world", metavar="PRESET|PATH",
        help="with --online: a preset of the synthetic world's mechanics (myopic, longterm, longterm-v0), or a world "
        "fitted to the dataset (world.npz of recgym calibrate)",
    )  # fmt: skip


def _run_tune(args: argparse.Namespace) -> int:
    result = tune(
        dataset_input(args.dataset),
        args.agents,
        trials=args.trials,
        steps=args.steps,
        eval_every=args.eval_every,
        out=args.out,
        trial_seed=args.trial_seed,
        space=args.space,
        preset=args.preset,
        select_by=args.select_by,
        prune=not args.no_prune,
        device=args.device,
        progress=not args.quiet,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        state_size=args.state_size,
        seed=args.seed,
        **unique_keys(args.options, "-o"),
    )
    print((result.out_dir / "tune.md").read_text().split("\n![")[0].rstrip())
    print(f"\npreset file: {result.preset_file}  (recgym benchmark --preset {result.preset_file} ...)")
    return 0


def add_tune_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune", help="search agents' hyperparameters with Optuna on val, the same trial budget each (resumable)"
    )
    parser.add_argument("agents", help="comma-separated agent names (e.g. sasrec,sqn,ccql,vsknn)")
    add_dataset_arguments(parser, as_option=True)
    parser.add_argument("--trials", type=int, required=True, help="finished trials per agent")
    parser.add_argument("--steps", type=int, required=True, help="gradient steps per trial")
    parser.add_argument("--eval-every", type=int, required=True, help="steps between val evaluations (pruning points)")
    parser.add_argument("--out", required=True, help="results folder; rerun the same command to resume")
    parser.add_argument("--space", metavar="FILE", help="search spaces over the defaults: JSON {AGENT: {KEY: DIM}}")
    parser.add_argument("--preset", help="base preset: rc15, retailrocket, synthetic (default: the dataset's)")
    parser.add_argument("--select-by", help="val metric maximised (default: reward@20)")
    parser.add_argument(
        "--trial-seed", type=int, default=0, help="training seed of every trial and the samplers' (default: 0)"
    )
    parser.add_argument("--no-prune", action="store_true", help="train every trial to the end (no median pruning)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.set_defaults(handler=_run_tune)


def _run_evaluate(args: argparse.Namespace) -> int:
    model = load_model(args.model, device=args.device)
    dataset = _load(args)
    metrics = evaluate(model, dataset, split=args.split, progress=not args.quiet, allow_transfer=args.allow_transfer)
    print(f"{args.model} on {dataset.name}, {args.split} split")
    print(format_metrics(metrics))
    return 0


def format_metrics(metrics: dict[str, float]) -> str:
    """``evaluate``'s metrics as a table: one row per k, Reward@k then HR/NDCG per event type; then the counts."""
    ks = sorted({int(key.partition("@")[2]) for key in metrics if "@" in key})
    columns = ["reward", "purchase/hr", "purchase/ndcg", "click/hr", "click/ndcg"]
    lines = ["k    " + "".join(f"{column:>15}" for column in columns)]
    for k in ks:
        lines.append(f"{k:<5}" + "".join(f"{metrics[f'{column}@{k}']:>15.4f}" for column in columns))
    counts = [f"{key}={int(value)}" for key, value in metrics.items() if key.startswith("n_")]
    return "\n".join([*lines, "events: " + ", ".join(counts)])


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="evaluate a saved model (recgym.save_model file, e.g. a benchmark checkpoint) on a split"
    )
    parser.add_argument("model", metavar="MODEL", help="a model file written by recgym.save_model")
    add_dataset_arguments(parser, as_option=True)
    parser.add_argument("--split", choices=("train", "val", "test"), default="test", help="(default: test)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument(
        "--allow-transfer",
        action="store_true",
        help="evaluate a model trained on another item index of the same size (a deliberate transfer)",
    )
    parser.set_defaults(handler=_run_evaluate)


def _run_report(args: argparse.Namespace) -> int:
    result = write_report(args.dir, baseline=None if args.baseline.lower() == "none" else args.baseline)
    print((result.out_dir / "results.md").read_text())
    return 0


def add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="write a benchmark folder's tables and figures from the runs finished so far"
    )
    parser.add_argument("dir", metavar="DIR", help="a folder written by recgym benchmark")
    parser.add_argument(
        "--baseline", default="sasrec", help="agent label every other agent is compared with, or none (default: sasrec)"
    )
    parser.set_defaults(handler=_run_report)


def _run_validity(args: argparse.Namespace) -> int:
    board = folders_leaderboard(args.dirs, n_resamples=args.resamples, fqe_steps=args.fqe, data_dir=args.data_dir)
    if args.fqe is not None:
        print("FQE of each run's policy (best checkpoint or baseline; not the oracle) beside the replay metrics.\n")
    print(format_folders_leaderboard(board))
    if args.csv:
        board.to_csv(args.csv, index=False)
        print(f"written: {args.csv}")
    return 0


def add_validity_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validity", help="which offline metric ranks runs as their online return does, across benchmark folders"
    )
    parser.add_argument("dirs", metavar="DIR", nargs="+", help="folders written by recgym benchmark with --online")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of agents (default: 2000)")
    parser.add_argument("--csv", help="also write every folder's leaderboard rows to this CSV file")
    parser.add_argument(
        "--fqe", type=int, metavar="STEPS",
        help="also rank fitted Q evaluation (STEPS updates on val) of each trained run's best checkpoint, over the "
        "trained runs; each estimate is kept in its run folder (fqe.json)",
    )  # fmt: skip
    parser.add_argument("--data-dir", help="with --fqe: where the folders' datasets are (default: $RECGYM_DATA)")
    parser.set_defaults(handler=_run_validity)


def _run_plot(args: argparse.Namespace) -> int:
    print(*plot_results(args.dir, band=args.band), sep="\n")
    return 0


def add_plot_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plot", help="redraw a benchmark folder's figures from its curves.csv")
    parser.add_argument("dir", metavar="DIR", help="a folder written by recgym benchmark")
    parser.add_argument(
        "--band", choices=("ci", "std", "minmax"), default="ci", help="spread over seeds (default: ci, the 95%% CI)"
    )
    parser.set_defaults(handler=_run_plot)


def _run_diff(args: argparse.Namespace) -> int:
    differences = diff_runs(args.a, args.b)
    if not differences:
        print(f"{args.a} and {args.b} are defined alike")
    for key, first, second in differences:
        print(f"{key}: {json.dumps(first, default=str)} -> {json.dumps(second, default=str)}")
    return 0


def add_diff_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("diff", help="what differs between two benchmark runs (agent, settings, floats)")
    parser.add_argument("a", metavar="RUN_A", help="a run folder, OUT/runs/LABEL/seedN")
    parser.add_argument("b", metavar="RUN_B", help="another run folder")
    parser.set_defaults(handler=_run_diff)


def _run_worlds(args: argparse.Namespace) -> int:
    logger = logging_policy(args.logger, **unique_keys(args.logger_options, "-l"))
    if args.action == "log" and args.out is None:
        raise InvalidOptionError("recgym worlds log needs --out FILE.npz")
    options = unique_keys(args.options, "-o")
    if args.world in WORLD_PRESETS:
        world: Any = make_world(args.world, data_dir=args.data_dir, **options)
    elif Path(args.world).is_file():
        if options:
            raise InvalidOptionError(f"-o options set a preset's world; {args.world} is a fitted world's file")
        world = load_world(args.world)
    else:
        raise InvalidOptionError(
            f"unknown world {args.world!r}; expected one of {', '.join(WORLD_PRESETS)} or a fitted world's file"
        )
    if args.action == "log":
        log = log_sessions(world, logger, n_sessions=args.sessions, seed=args.seed, slate_size=args.slate_size,
                           progress=not args.quiet)  # fmt: skip
        path = log.save(args.out)
        slate_clicks = int((log.position > 0).sum())
        print(f"{path}: {args.sessions} sessions, {len(log)} clicks ({slate_clicks} on the slate), "
              f"{int(log.purchased.sum())} purchases; logger {log.card['logger']} in world {args.world}")  # fmt: skip
        return 0
    planner = {"candidates": args.candidates, "rollouts": args.rollouts, "horizon": args.horizon}
    report = headroom(world, n_sessions=args.sessions, seed=args.seed, slate_size=args.slate_size, planner=planner)
    print(f"world {args.world}: mean return per session over {args.sessions} simulated sessions (seed {args.seed}), "
          f"slate {args.slate_size}, 95% interval over sessions")  # fmt: skip
    for name in ("planner", "myopic", "popularity", "empty"):
        low, high = report[f"{name}_ci"]
        print(f"  {name:<11}{report[name]:>9.4f}  [{low:.4f}, {high:.4f}]")
    low, high = report["headroom_ci"]
    print(f"  headroom   {report['headroom']:>+9.2%}  [{low:+.2%}, {high:+.2%}]  (planner - myopic) / myopic, paired")
    return 0


def add_worlds_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worlds", help="a live world: what looking ahead is worth in it (headroom), or a recommender's log (log)"
    )
    parser.add_argument(
        "action", choices=("headroom", "log"),
        help="headroom: planner, myopic, popularity, empty slate; log: write a logging policy's slate log to --out",
    )  # fmt: skip
    parser.add_argument(
        "--world",
        default="longterm",
        help="a preset (myopic, longterm, longterm-v0) or a fitted world's file (world.npz of recgym calibrate) "
        "(default: longterm)",
    )
    parser.add_argument("--sessions", type=int, default=1000, help="simulated sessions (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="the sessions' random stream (default: 0)")
    parser.add_argument("--slate-size", type=int, default=20, help="(default: 20)")
    parser.add_argument("--candidates", type=int, default=8, help="the planner's candidate slates (default: 8)")
    parser.add_argument("--rollouts", type=int, default=8, help="the planner's rollouts per candidate (default: 8)")
    parser.add_argument("--horizon", type=int, default=4, help="the planner's rollout length in steps (default: 4)")
    parser.add_argument("--data-dir", help="where the world's logs are cached (default: $RECGYM_DATA)")
    add_key_value_argument(
        parser, "-o", "--option", dest="options",
        help="a generator option or mechanic, e.g. -o n_items=2000 -o satiation=0.3 (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--logger", default="epsilon_greedy",
        help="log: organic, popularity, uniform, epsilon_greedy or softmax (default: epsilon_greedy)",
    )  # fmt: skip
    add_key_value_argument(
        parser, "-l", "--logger-option", dest="logger_options",
        help="log: a logger option, e.g. -l epsilon=0.3 -l noise=0.5, or -l temperature=0.5 for softmax (repeatable)",
    )  # fmt: skip
    parser.add_argument("--out", help="log: the .npz file to write")
    parser.set_defaults(handler=_run_worlds)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_prepare_parser,
    add_info_parser,
    add_benchmark_parser,
    add_ablate_parser,
    add_tune_parser,
    add_evaluate_parser,
    add_report_parser,
    add_plot_parser,
    add_diff_parser,
    add_validity_parser,
    add_calibrate_parser,
    add_worlds_parser,
]


_QUIET_HELP = "no progress bars and no d3rlpy info lines (warnings and errors still show)"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (``--version``, ``--quiet``) with one subparser per command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="recgym", description="Offline RL for session-based recommendation.")
    parser.add_argument("--version", action="version", version=f"recgym {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=_QUIET_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for add_parser in COMMANDS:
        add_parser(subparsers)
    for command in subparsers.choices.values():  # also accepted after the command: recgym info ... --quiet
        command.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=_QUIET_HELP)
    return parser


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_MACHINE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, *_FULL_ERRNOS}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (2 for a user error, printed as one line; 130 on Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:  # handlers pass progress=not args.quiet
        silence_d3rlpy_logs()
    try:
        return args.handler(args)
    except RecgymError as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"recgym: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; caches and run folders are written atomically
        print("recgym: interrupted; nothing half-written is kept: rerun the command to go on", file=sys.stderr)
        return 130
    except OSError as error:  # the machine's limits (disk full, no permission), not a bug: one line
        if error.errno not in _MACHINE_ERRNOS:
            raise
        hint = "; free some space and rerun: finished work is kept" if error.errno in _FULL_ERRNOS else ""
        print(f"recgym: error: {error.filename or 'a file'}: {error.strerror}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
