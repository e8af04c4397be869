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
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  kgfilters train --run runs/fm --epochs 4 --seed 0\n"
        "  kgfilters train --run runs/timm --model timm:resnet18 --weights w.safetensors --data-root imgs/\n"
        "  kgfilters train --run runs/ep --model export:net.pt2 --mean 0.5 --std 0.25 --data-root imgs/\n"
        "  kgfilters train --run runs/own --model mypkg.nets:build --weights w.safetensors --data-root set.csv",
    )
    add_run(p)
    p.add_argument("--data-root", default=None, metavar="DIR|CSV",
                   help="IDX files, an ImageFolder, a flat image folder (with --ground-truth, or "
                   "ILSVRC2012_val_* files) or a CSV of path,label (default: the run's, else "
                   "/usr/share/datasets/fashion-mnist)")
    p.add_argument("--ground-truth", default=None, metavar="FILE",
                   help="labels of a flat image folder: one wnid or 1-based ImageNet-1k index per line in "
                   "file-name order, or 'filename label' lines")
    p.add_argument("--on-bad-image", choices=["stop", "skip"], default="stop",
                   help="an undecodable image stops the run naming the file (default), or is skipped "
                   "(all images are checked once now; the count goes to run.json)")
    p.add_argument("--model", default=None,
                   help="fsagn-mnist, a torchvision classifier name, timm:NAME, export:FILE.pt2 "
                   "(torch.export.save archive) or package.module:factory (called with num_classes); "
                   "default: the run's, else fsagn-mnist")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="use these weights (.safetensors or .pth) instead of training")
    p.add_argument("--class-names", default=None, metavar="FILE",
                   help="class names: one per line, a JSON list, or a JSON object keyed by folder name "
                   "(default: ImageNet wnid folders get their human names)")
    p.add_argument("--input-size", type=positive_int, default=None, metavar="PX",
                   help="square input side in pixels (where the model does not declare it, or to override it)")
    p.add_argument("--mean", type=_floats, default=None, metavar="M[,M,M]",
                   help="per-channel mean of [0, 1] images (one value or one per channel)")
    p.add_argument("--std", type=_floats, default=None, metavar="S[,S,S]",
                   help="per-channel std of [0, 1] images (one value or one per channel)")
    p.add_argument("--epochs", type=positive_int, default=4, help="passes over the train split (>= 1)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--seed", type=int, default=None, help="split and training seed (default: the "
                   "run's, else 0)")
    p.add_argument("--force", action="store_true",
                   help="retrain (or re-register) a run that has a model; later stages become stale")
    add_device(p)
    p.set_defaults(func=run)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers") from None


def run(args: argparse.Namespace) -> int:
    from kgfilters.pipeline import (
        check_train_options,
        check_trainable,
        create_run,
        new_run_config,
        train_run,
    )
    from kgfilters.stages import dependants, run_status

    opts = {"model": args.model, "data_root": args.data_root, "seed": args.seed,
            "class_names": args.class_names, "input_size": args.input_size, "mean": args.mean,
            "std": args.std, "ground_truth": args.ground_truth, "on_bad_image": args.on_bad_image}
    registering = args.weights is not None or (args.model or "").startswith("export:")
    if not registering:
        check_train_options(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    check_trainable(args.run, force=args.force)  # before the directory or its lock is made
    with writing(args, "train", create=True):
        if registering:
            config = create_run(args.run, weights=args.weights, force=args.force, **opts)
            _say_skipped(config)
            held = args.weights or "its own weights"
            print(f"registered {config['model']['name']} with {held} in {args.run}/run.json")
        else:
            check_trainable(args.run, force=args.force)  # again, now that the lock is held
            config = new_run_config(args.run, **opts)
            _say_skipped(config)
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


def _say_skipped(config: dict) -> None:  # type: ignore[type-arg]
    skipped = config["dataset"].get("skipped_images")
    if skipped:
        print(f"skipped {skipped} undecodable image(s); see run.json dataset.skipped")
