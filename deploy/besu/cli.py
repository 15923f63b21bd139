"""python -m deploy.besu: generate a Besu QBFT network for Provenant, then change it.

  generate        --consortium FILE --out DIR [--hsm] [--accounts-from-app]
  add-member      --out DIR --slug S --name N --host IP --p2p-port P --rpc-port P
                  --metrics-port P [--validator] [--account 0x..]... [--public-key 0x..]
  remove-member   --out DIR --slug S
  rotate-node-key --out DIR --slug S [--public-key 0x..] [--finish]
  sync-accounts   --out DIR          (the app's organisations' accounts, via Django)

The day-2 commands print the JSON-RPC calls to make on the running nodes; with
`--rpc SLUG=URL` (repeatable) or `--rpc 'http://{host}:{rpc_port}'` they send them to the
nodes they can reach and check the result. Bad input exits 2 with a message, a failed call or
check exits 1; nothing is written when the input is refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from deploy.besu import day2, network
from deploy.besu.consortium import ConsortiumError, Hsm, MemberSpec, load
from deploy.besu.files import FileChanges
from deploy.besu.rpc import RpcError
from deploy.besu.send import Sender, check_rpc_values, endpoints


def _app_accounts() -> list[str]:
    from deploy.besu.app_accounts import app_signing_accounts

    return app_signing_accounts()


def generate(args: argparse.Namespace) -> int:
    c = load(args.consortium)
    out: Path = args.out
    if args.hsm or c.hsm is not None:
        c = replace(c, hsm=c.hsm or Hsm())
        missing = [m.slug for m in c.validators if not m.public_key]
        if missing:
            raise ConsortiumError(
                f"--hsm: validator(s) {', '.join(missing)} need `public_key` (the HSM key's "
                "public half) in the consortium file"
            )
    if args.accounts_from_app:
        c = replace(c, app_accounts=tuple(_app_accounts()))
    network.preflight(c)
    recorded = out / network.CONSORTIUM
    if recorded.exists() and load(recorded) != c:
        raise ConsortiumError(
            f"{out} already holds the network {load(recorded).name!r} with other members or "
            "settings: change it with add-member, remove-member and rotate-node-key"
        )
    if not recorded.exists() and (out / network.GENESIS).exists():
        raise ConsortiumError(f"{out} holds a genesis.json this generator did not write")
    changes = FileChanges(out)
    network.write_genesis(c, out, changes)
    keys = network.render(c, out, changes)
    print(f"Network {c.name!r}, chain id {c.chain_id}, in {out}")
    for m in c.members:
        enode = (network.node_dir(out, m.slug) / "enode").read_text().strip()
        print(f"  {m.slug:<16} {m.role:<9} {keys[m.slug].address}  {enode}")
    print("\n".join(changes.report()))
    print(f"Next: copy nodes/<slug>/ to each node; the app reads {out / network.APP_ENV}.")
    return 0


def _spec(args: argparse.Namespace) -> MemberSpec:
    return MemberSpec(
        slug=args.slug,
        name=args.name or args.slug,
        host=args.host,
        p2p_port=args.p2p_port,
        rpc_port=args.rpc_port,
        metrics_port=args.metrics_port,
        validator=args.validator,
        accounts=args.account,
        public_key=args.public_key,
        hsm_key_alias=args.hsm_key_alias,
    )


def _check_consortium_file(args: argparse.Namespace) -> None:
    """`--consortium` on a day-2 command: it must describe the network in --out."""
    if args.consortium is None:
        return
    given, recorded = load(args.consortium), load(args.out / network.CONSORTIUM)
    if (given.name, given.chain_id) != (recorded.name, recorded.chain_id):
        raise ConsortiumError(
            f"{args.consortium} describes {given.name!r} (chain {given.chain_id}), but {args.out} "
            f"holds {recorded.name!r} (chain {recorded.chain_id})"
        )


def _day2(make: Callable[[argparse.Namespace], day2.Plan]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        path = args.out / network.CONSORTIUM
        if not path.exists():
            raise ConsortiumError(f"{args.out} holds no network ({path} is missing)")
        _check_consortium_file(args)
        before = load(path)
        slugs = {m.slug for m in before.members} | {getattr(args, "slug", "")}
        check_rpc_values(args.rpc, slugs)  # refused before anything is written
        plan = make(args)
        print("\n".join(plan.render()))
        if args.consortium is not None:
            print(f"\n{path} is the record of the network now (not {args.consortium}).")
        if args.rpc:
            members = {m.slug: m for m in [*before.members, *load(path).members]}
            urls = endpoints(args.rpc, list(members.values()))
            print("\nSending:")
            Sender(urls, wait_seconds=args.wait, poll_seconds=args.poll).run(plan)
        return 0

    return run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.besu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a new network")
    gen.add_argument("--consortium", type=Path, required=True)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--hsm", action="store_true", help="validator keys in HSMs (Besu HSM plugin)")
    gen.add_argument("--accounts-from-app", action="store_true")
    gen.set_defaults(run=generate)

    def day2_parser(name: str, helptext: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=helptext)
        p.add_argument("--out", type=Path, required=True, help="the network directory")
        p.add_argument("--consortium", type=Path, help="check it describes the same network")
        p.add_argument("--rpc", action="append", default=[], metavar="SLUG=URL|TEMPLATE")
        p.add_argument("--wait", type=float, default=120.0, help="seconds to wait for a check")
        p.add_argument("--poll", type=float, default=2.0, help="seconds between checks")
        return p

    add = day2_parser("add-member", "add a member's node (and its accounts)")
    add.add_argument("--slug", required=True)
    add.add_argument("--name")
    add.add_argument("--host", required=True)
    add.add_argument("--p2p-port", type=int, default=30303)
    add.add_argument("--rpc-port", type=int, default=8545)
    add.add_argument("--metrics-port", type=int, default=9545)
    add.add_argument("--validator", action="store_true")
    add.add_argument("--account", action="append", default=[], help="a signing account")
    add.add_argument("--public-key", help="the node key's public half, when it is in an HSM")
    add.add_argument("--hsm-key-alias")
    add.set_defaults(run=_day2(lambda a: day2.add_member(a.out, _spec(a))))

    remove = day2_parser("remove-member", "remove a member's node (and its accounts)")
    remove.add_argument("--slug", required=True)
    remove.set_defaults(run=_day2(lambda a: day2.remove_member(a.out, a.slug)))

    rotate = day2_parser("rotate-node-key", "give a node a new key")
    rotate.add_argument("--slug", required=True)
    rotate.add_argument("--finish", action="store_true", help="after the node restarted")
    rotate.add_argument("--public-key", help="the new HSM key's public half")
    rotate.add_argument("--hsm-key-alias")
    rotate.set_defaults(run=_day2(_rotate))

    sync = day2_parser("sync-accounts", "allow-list the app's organisations' accounts")
    sync.set_defaults(run=_day2(lambda a: day2.sync_accounts(a.out, _app_accounts())))
    return parser


def _rotate(args: argparse.Namespace) -> day2.Plan:
    if args.finish:
        if args.public_key:
            raise ConsortiumError("--finish takes no --public-key")
        return day2.finish_rotation(args.out, args.slug)
    return day2.rotate_node_key(
        args.out, args.slug, public_key=args.public_key, hsm_key_alias=args.hsm_key_alias
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConsortiumError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RpcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
