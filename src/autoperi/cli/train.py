"""``autoperi train``: fit a generator from a YAML config, with resume and Lightning's DDP."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a generator from a YAML config (configs/*.yaml)")
    parser.add_argument("--config", required=True, help="a YAML config, e.g. configs/mp_20-crystal_flow.yaml")
    parser.add_argument("--out", help="run folder (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last.ckpt")
    parser.add_argument("--max-steps", type=int, help="override optim.max_steps")
    parser.add_argument("--batch-size", type=int, help="override data.batch_size")
    parser.add_argument("--threads", type=int, help="override threads (torch CPU threads)")
    parser.add_argument("--accelerator", default="cpu", help="cpu, gpu or auto (Lightning)")
    parser.add_argument("--devices", default="1", help="number of devices per node, or 'auto'")
    parser.add_argument("--strategy", default="auto", help="e.g. ddp for multi-GPU or multi-node")
    parser.add_argument("--num-nodes", type=int, default=1, help="machines for multi-node DDP (default: 1)")
    parser.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoperi.training.config import load_config
    from autoperi.training.train import train

    config = load_config(args.config)
    if args.max_steps:
        config.optim.max_steps = args.max_steps
    if args.batch_size:
        config.data.batch_size = args.batch_size
    if args.threads:
        config.threads = args.threads
    devices = int(args.devices) if args.devices.isdigit() else args.devices
    out = Path(args.out or Path("runs") / config.name)
    model = train(config, out, args.resume, args.accelerator, devices, args.strategy, args.num_nodes, args.tensorboard)
    if model is not None:
        print(f"trained model written to {model}")
    return 0
