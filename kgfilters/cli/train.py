"""``kgfilters train``: create a run and train (or register) its model."""

from __future__ import annotations

import argparse

from kgfilters.cli.common import add_device, add_run, device_of, positive_float, positive_int, refresh_graph, writing

ORDER = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="create a run directory and train its model",
        description="Create a run directory (run.json) for a data set and model, then train the "
        "small network on the train split, or register a user's weights file with --weights. A run "
        "that has a model already is refused unless --force; --force replaces the model and marks "
        "the stages that used it stale (`kgfilters status` shows them; their files are kept).",
        epilog="example: kgfilters train --run runs/fm --epochs 4 --seed 0",
    )
    add_run(p)
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="IDX files or an ImageFolder (default: the run's, else "
                   "/usr/share/datasets/fashion-mnist)")
    p.add_argument("--model", default=None,
                   help="fsagn-mnist or a torchvision classifier name (default: the run's, else "
                   "fsagn-mnist)")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="use these weights (.safetensors or .pth) instead of training")
    p.add_argument("--epochs", type=positive_int, default=4, help="passes over the train split (>= 1)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--seed", type=int, default=None, help="split and training seed (default: the "
                   "run's, else 0)")
    p.add_argument("--force", action="store_true",
                   help="retrain (or re-register) a run that has a model; later stages become stale")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.pipeline import (
        check_train_options,
        check_trainable,
        create_run,
        new_run_config,
        train_run,
    )
    from kgfilters.stages import dependants, run_status

    if args.weights is None:
        check_train_options(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    check_trainable(args.run, force=args.force)  # before the directory or its lock is made
    with writing(args, "train", create=True):
        if args.weights is not None:
            create_run(args.run, model=args.model, data_root=args.data_root,
                       weights=args.weights, seed=args.seed, force=args.force)
            print(f"registered {config_model(args)} with weights {args.weights} in {args.run}/run.json")
        else:
            check_trainable(args.run, force=args.force)  # again, now that the lock is held
            config = new_run_config(args.run, model=args.model, data_root=args.data_root,
                                    seed=args.seed)
            result = train_run(args.run, device=device_of(args), epochs=args.epochs,
                               batch_size=args.batch_size, lr=args.lr, progress=args.progress,
                               config=config)
            sizes = config["dataset"]["sizes"]
            print(f"trained {config['model']['name']} on {sizes['train']} images for {result.epochs} epochs: "
                  f"test accuracy {result.test_accuracy:.2%}")
            print(f"weights: {args.run}/model.safetensors")
        refresh_graph(args, "train")
    stale = [s.name for s in run_status(args.run) if s.state == "stale" and s.name in dependants("train")]
    if stale:
        print(f"stale now (files kept): {', '.join(stale)}; `kgfilters status --run {args.run}` "
              "lists the commands to rerun")
    return 0


def config_model(args: argparse.Namespace) -> str:
    from kgfilters.run import read_run_json

    return str(read_run_json(args.run)["model"]["name"])
