"""The classic builder: each Dockerfile step is an image, RUN steps run in containers.

As docker's classic builder: ``FROM`` takes an image (pulled when missing or
with ``--pull``), an earlier stage, or ``scratch``; ``RUN`` runs in a
container of the engine's (any runtime) and its changes become a layer;
``COPY``/``ADD`` put files of the context (or of another stage or image,
``--from``) into a layer; the other instructions change the config only,
each leaving an image with an ``empty_layer`` history entry. The output is
docker's (``Step 2/5 : RUN make``, `` ---> Running in …``, the step's
output, `` ---> 1a2b3c4d5e6f``). Containers of a step are removed whatever
happens; the images of finished steps stay, unnamed, until ``image prune``.

Each step's image is kept in the build cache (``pouch_build._cache``), so a
second build of an unchanged context takes every step from it (`` --->
Using cache``) and a changed file rebuilds from its COPY on.

Not yet: ``ADD`` of URLs (builds here have no network).
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from pouch.builders import BuildOutput, BuildRequest
from pouch.drivers import DriverInfo
from pouch.errors import InvalidArgument, NoSuchImage, PouchError
from pouch.models import ContainerConfig
from pouch.oci.image import ImageConfig, ImageHealthcheck
from pouch_build._cache import BuildCache, step_key, tar_checksum
from pouch_build._context import Context, Ownership
from pouch_build._words import expand, split_pairs

if TYPE_CHECKING:
    from pouch.engine import Engine
    from pouch_build._stages import Instruction, Stage

__all__ = ["ClassicBuilder"]

_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_CONFIG_ONLY = {
    "ENV", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME", "CMD", "ENTRYPOINT",
    "STOPSIGNAL", "SHELL", "HEALTHCHECK", "MAINTAINER",
}  # fmt: skip


@dataclass
class _State:
    """Where a stage's build stands: its image (None: scratch), config and variables."""

    image: str | None
    config: ImageConfig
    args: dict[str, str] = field(default_factory=dict)
    shell: list[str] = field(default_factory=lambda: ["/bin/sh", "-c"])

    def env(self) -> dict[str, str]:
        """The image's environment by name."""
        return dict(item.partition("=")[::2] for item in self.config.env or [])

    def variables(self) -> dict[str, str]:
        return {**self.args, **self.env()}

    def set_env(self, key: str, value: str) -> None:
        self.config.env = [f"{k}={v}" for k, v in {**self.env(), key: value}.items()]


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _flags(step: Instruction, allowed: set[str]) -> dict[str, str]:
    found = {}
    for flag in step.flags:
        name, _, value = flag.removeprefix("--").partition("=")
        if name not in allowed:
            raise InvalidArgument(
                f"line {step.start_line}: unknown flag --{name} for {step.cmd}", field=step.cmd
            )
        found[name] = value
    return found


class ClassicBuilder:
    name = "classic"

    def __init__(self, cache_dir: Path) -> None:
        self.cache = BuildCache(cache_dir)

    def describe(self) -> DriverInfo:
        from pouch_build import __version__

        return DriverInfo(
            name=self.name, version=__version__, details={"cache": str(self.cache.path)}
        )

    async def prune(self, engine: Engine) -> list[str]:
        """Forget the cache; remove the images only it kept (untagged, unused)."""
        removed = []
        for image in await anyio.to_thread.run_sync(self.cache.prune):
            try:
                found = await engine.images.inspect(image)
                if not found.names:
                    await engine.images.remove(image)
                    removed.append(image)
            except PouchError:
                continue  # gone already, or a container still uses it
        return removed

    async def build(self, engine: Engine, request: BuildRequest, output: BuildOutput) -> str:
        try:
            text = (request.context / request.dockerfile).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"cannot read the Dockerfile {request.dockerfile}: {exc}", field="dockerfile"
            ) from None
        from pouch_build._stages import parse  # the Dockerfile parser on the first build

        parsed = parse(text)
        context = Context(request.context, request.dockerfile)
        run = _Build(engine, request, output, context, self.cache)
        run.escape = parsed.escape
        for step in parsed.global_args:
            for name, value in _arg_pairs(step, {}, parsed.escape):
                run.global_args[name] = request.build_args.get(name) or value
        last = parsed.target(request.target)
        stages = parsed.stages[: last + 1]
        run.total = sum(1 + len(stage.steps) for stage in stages)
        image = ""
        with tempfile.TemporaryDirectory(prefix="build-", dir=request.context.parent) as scratch:
            run.scratch = Path(scratch)
            for stage in stages:
                image = await run.stage(stage)
                run.results[str(stage.index)] = image
                if stage.name:
                    run.results[stage.name] = image
        if request.labels:
            image = await run.relabel(image, request.labels)
        return image


def _arg_pairs(
    step: Instruction, variables: Mapping[str, str], escape: str
) -> list[tuple[str, str]]:
    pairs = []
    for item in step.value:
        name, sep, default = item.partition("=")
        pairs.append((name, expand(default, variables, escape) if sep else ""))
    return pairs


class _Build:
    def __init__(
        self,
        engine: Engine,
        request: BuildRequest,
        output: BuildOutput,
        context: Context,
        cache: BuildCache,
    ) -> None:
        self.engine, self.request, self.output, self.context = engine, request, output, context
        self.cache = cache
        self.global_args: dict[str, str] = {}
        self.results: dict[str, str] = {}
        self.total = 0
        self.number = 0

    escape = "\\"
    # Files of this build only (here-documents), removed with it.
    scratch = Path(tempfile.gettempdir())

    async def say(self, text: str) -> None:
        await self.output.write(text)

    def expand(self, text: str, variables: Mapping[str, str]) -> str:
        return expand(text, variables, self.escape)

    async def cached(self, state: _State, key: str) -> bool:
        """Take the step's image from the cache when it is there and still exists."""
        if self.request.no_cache:
            return False
        image = await anyio.to_thread.run_sync(self.cache.get, key)
        if image is None:
            return False
        try:
            state.image = (await self.engine.images.inspect(image)).id
        except NoSuchImage:
            return False
        await self.say(" ---> Using cache\n")
        return True

    async def remember(self, key: str, state: _State) -> None:
        if state.image:
            await anyio.to_thread.run_sync(self.cache.put, key, state.image)

    async def step(self, step: Instruction | str) -> None:
        self.number += 1
        shown = step if isinstance(step, str) else step.original
        await self.say(f"Step {self.number}/{self.total} : {shown}\n")

    # -- stages ---------------------------------------------------------------------

    async def stage(self, stage: Stage) -> str:
        await self.step(f"FROM {stage.base}" + (f" AS {stage.name}" if stage.name else ""))
        state = await self._base(self.expand(stage.base, self.global_args), stage.platform)
        await self.say(f" ---> {_short(state.image) if state.image else 'scratch'}\n")
        triggers = list(state.config.on_build or [])
        state.config.on_build = None  # they run here, and are no part of this image
        steps = [*_triggers(triggers), *stage.steps]
        if triggers:
            await self.say(
                f"# Executing {len(triggers)} build trigger{'s' * (len(triggers) > 1)}\n"
            )
            self.total += len(triggers)
        for step in steps:
            await self.step(step)
            try:
                await self._one(step, state)
            except InvalidArgument as exc:
                if exc.field is not None:
                    raise
                raise InvalidArgument(f"line {step.start_line}: {exc}", field=step.cmd) from None
            except ValueError as exc:
                raise InvalidArgument(f"line {step.start_line}: {exc}", field=step.cmd) from None
            if state.image:
                await self.say(f" ---> {_short(state.image)}\n")
        if state.image is None:
            raise InvalidArgument("the stage has nothing in it: an image of scratch needs a COPY")
        return state.image

    async def _base(self, name: str, platform: str) -> _State:
        if name == "scratch":
            return _State(None, ImageConfig())
        if name.lower() in self.results:
            image_id = self.results[name.lower()]
        else:
            image_id = await self._image(name, self.expand(platform, self.global_args))
        image = await self.engine.images.inspect(image_id)
        config = msgspec.structs.replace(image.config or ImageConfig())
        state = _State(image.id, config)
        if config.shell:
            state.shell = list(config.shell)
        return state

    async def _discard(self, container_id: str) -> None:
        """Remove a step's container, also when the build is being cancelled."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(60):
            await self.engine.remove(container_id, force=True)

    async def _image(self, name: str, platform: str = "") -> str:
        if not self.request.pull:
            try:
                return (await self.engine.images.inspect(name)).id
            except NoSuchImage:
                pass
        await self.say(f"Pulling {name}\n")
        wanted = platform or self.request.platform or None
        return (await self.engine.images.pull(name, platform=wanted)).id

    # -- steps ----------------------------------------------------------------------

    async def _one(self, step: Instruction, state: _State) -> None:
        kind = step.cmd
        if kind == "ARG":
            for name, value in _arg_pairs(step, state.variables(), self.escape):
                given = self.request.build_args.get(name)
                state.args[name] = (
                    given if given is not None else value or self.global_args.get(name, "")
                )
        elif kind == "RUN":
            await self._run(step, state)
        elif kind in ("COPY", "ADD"):
            await self._copy(step, state)
        elif kind == "ONBUILD":
            trigger = str(step.original).split(None, 1)[1]
            if trigger.split(None, 1)[0].upper() in ("ONBUILD", "FROM", "MAINTAINER"):
                raise ValueError(
                    f"{trigger.split(None, 1)[0]} is not allowed as an ONBUILD trigger"
                )
            state.config.on_build = [*(state.config.on_build or []), trigger]
            key = step_key(state.image or "scratch", step.original, _json(state.config))
            if not await self.cached(state, key):
                state.image = await self.configure(
                    state.image, state.config, f"#(nop)  {step.original}"
                )
                await self.remember(key, state)
        elif kind in _CONFIG_ONLY:
            self._config(step, state)
            key = step_key(state.image or "scratch", step.original, _json(state.config))
            if not await self.cached(state, key):
                state.image = await self.configure(
                    state.image, state.config, f"#(nop)  {step.original}"
                )
                await self.remember(key, state)
        else:
            raise InvalidArgument(
                f"line {step.start_line}: {kind} is not supported by this builder yet", field=kind
            )

    def _config(self, step: Instruction, state: _State) -> None:
        values, variables, config = step.value, state.variables(), state.config
        kind = step.cmd
        if kind == "ENV":
            for key, value in split_pairs(values, "ENV"):
                state.set_env(key, self.expand(value, state.variables()))
        elif kind == "LABEL":
            labels = dict(config.labels or {})
            for key, value in split_pairs(values, "LABEL"):
                labels[self.expand(key, variables)] = self.expand(value, variables)
            config.labels = labels
        elif kind == "WORKDIR":
            path = self.expand(values[0], variables)
            config.working_dir = posixpath.normpath(posixpath.join(config.working_dir or "/", path))
        elif kind == "USER":
            config.user = self.expand(values[0], variables)
        elif kind == "EXPOSE":
            ports = dict(config.exposed_ports or {})
            for port in values:
                port = self.expand(port, variables)
                ports[port if "/" in port else f"{port}/tcp"] = {}
            config.exposed_ports = ports
        elif kind == "VOLUME":
            paths = list(values) if step.json else " ".join(values).split()
            config.volumes = {
                **(config.volumes or {}),
                **{self.expand(p, variables): {} for p in paths},
            }
        elif kind in ("CMD", "ENTRYPOINT"):
            command = list(values) if step.json else [*state.shell, " ".join(values)]
            if kind == "CMD":
                config.cmd = command
            else:
                config.entrypoint = command
                config.cmd = None  # as docker: a new entrypoint drops the inherited cmd
        elif kind == "STOPSIGNAL":
            config.stop_signal = self.expand(values[0], variables)
        elif kind == "SHELL":
            if not step.json:
                raise ValueError('SHELL takes the JSON form: SHELL ["/bin/bash", "-c"]')
            state.shell = list(values)
            config.shell = list(values)
        elif kind == "HEALTHCHECK":
            config.healthcheck = _healthcheck(step, state.shell)

    async def configure(self, image: str | None, config: ImageConfig, created_by: str) -> str:
        """A new image of ``image`` with ``config`` and no layer of its own."""
        made = await self.engine.commits.derive(
            image, config=msgspec.structs.replace(config), created_by=f"/bin/sh -c {created_by}"
        )
        return made.id

    async def relabel(self, image: str, labels: Mapping[str, str]) -> str:
        """``--label``: the final image with the build's labels added."""
        base = await self.engine.images.inspect(image)
        config = msgspec.structs.replace(base.config or ImageConfig())
        config.labels = {**(config.labels or {}), **labels}
        shown = " ".join(f"{k}={v}" for k, v in labels.items())
        return await self.configure(image, config, f"#(nop)  LABEL {shown}")

    async def _run(self, step: Instruction, state: _State) -> None:
        if state.image is None:
            raise InvalidArgument(
                f"line {step.start_line}: RUN needs an image with a shell, not scratch", field="RUN"
            )
        flags = _flags(step, {"network"})
        argv = list(step.value) if step.json else [*state.shell, _shell_text(step)]
        wanted = flags.get("network", self.request.network)
        if wanted not in ("", "default", "none", "host"):
            raise InvalidArgument(
                f"line {step.start_line}: RUN --network={wanted}: use default, none or host",
                field="RUN",
            )
        network = {"": [], "default": []}.get(wanted, [wanted])
        image_env = state.env()
        env = [f"{k}={v}" for k, v in state.args.items() if k not in image_env]
        key = step_key(state.image, "RUN", _json(argv), _json(env), _json(state.config))
        if await self.cached(state, key):
            return
        config = ContainerConfig(
            image=state.image,
            entrypoint=[],
            cmd=argv,
            env=[*(state.config.env or []), *env],
            user=state.config.user,
            working_dir=state.config.working_dir,
            networks=network,
            runtime=self.request.runtime,
            labels={"io.pouch.build.step": str(self.number)},
        )
        container = await self.engine.create(config)
        try:
            await self.say(f" ---> Running in {container.id[:12]}\n")
            await self.engine.start(container.id)
            async for record in self.engine.logs(container.id, follow=True):
                text = record.message.decode(errors="replace")
                await self.say(text if text.endswith("\n") else text + "\n")
            code = await self.engine.wait(container.id)
            shown = " ".join(argv)
            if code != 0:
                raise PouchError(f"The command '{shown}' returned a non-zero code: {code}")
            made = await self.engine.commits.commit(
                container.id, pause=False, config=state.config, created_by=shown
            )
            state.image = made.id
            await self.remember(key, state)
        finally:
            await self._discard(container.id)
            await self.say(f"Removing intermediate container {container.id[:12]}\n")

    async def _copy(self, step: Instruction, state: _State) -> None:
        flags = _flags(step, {"from", "chown", "chmod", "link"})
        variables = state.variables()
        words = [self.expand(v, variables) for v in step.value]
        if len(words) < 2:
            raise ValueError(f"{step.cmd} needs a source and a destination")
        *sources, dest = words
        workdir = state.config.working_dir or "/"
        # A trailing "/" (or "." and "..", which name directories) makes it a
        # directory to copy into, as docker reads it.
        is_dir = dest.endswith("/") or posixpath.basename(dest) in (".", "..")
        dest = posixpath.normpath(posixpath.join(workdir, dest)) + ("/" if is_dir else "")
        chown = await self._numeric_owner(state, self.expand(flags.get("chown", ""), variables))
        own = Ownership(chown, flags.get("chmod", ""))
        if step.cmd == "ADD" and any("://" in s for s in sources):
            raise InvalidArgument(
                f"line {step.start_line}: ADD of a URL needs the network, which builds here"
                " do not reach: download it into the context and COPY it",
                field="ADD",
            )
        if "from" in flags:
            tar = await self._from_image(flags["from"], sources, dest, own)
        else:
            inline = {str(h.name): str(h.content) for h in step.heredocs}
            paths: list[Path] = []
            for source in sources:
                if source.startswith("<<"):
                    paths.append(self._heredoc(source[2:].lstrip("-").strip("'\""), inline))
                else:
                    paths += self.context.sources([source])
            if step.cmd == "ADD" and len(paths) == 1 and paths[0].name.endswith(_ARCHIVES):
                tar = await self._archive(paths[0], dest)
            else:
                tar = self.context.tar(paths, dest, own)
        try:
            checksum = await anyio.to_thread.run_sync(tar_checksum, tar)
            key = step_key(state.image or "scratch", step.cmd, checksum, _json(state.config))
            if not await self.cached(state, key):
                await self._layer(state, tar, f"#(nop) {step.original}")
                await self.remember(key, state)
        finally:
            tar.unlink(missing_ok=True)

    async def _numeric_owner(self, state: _State, chown: str) -> str:
        """``--chown=user:group`` with names looked up in the image's /etc/passwd and /etc/group."""
        user, _, group = chown.partition(":")
        if all(part.isdigit() or part in ("", "root") for part in (user, group)):
            return chown
        if state.image is None:
            raise InvalidArgument(f"--chown={chown}: scratch has no users; give numeric IDs")
        holder = await self.engine.create(
            ContainerConfig(image=state.image, entrypoint=[], cmd=["#(nop)"])
        )
        try:
            passwd = await self._read(holder.id, "/etc/passwd")
            groups = await self._read(holder.id, "/etc/group")
        finally:
            await self._discard(holder.id)
        users = {f[0]: (f[2], f[3]) for f in (line.split(":") for line in passwd) if len(f) > 3}
        gids = {f[0]: f[2] for f in (line.split(":") for line in groups) if len(f) > 2}
        if not user.isdigit():
            if user not in users:
                raise InvalidArgument(
                    f"--chown={chown}: no user {user!r} in the image", field="chown"
                )
            user_id, primary = users[user]
        else:
            user_id, primary = user, user
        if group and not group.isdigit() and group != "root":
            if group not in gids:
                raise InvalidArgument(
                    f"--chown={chown}: no group {group!r} in the image", field="chown"
                )
            group = gids[group]
        return f"{user_id}:{group or primary}"

    async def _read(self, container_id: str, path: str) -> list[str]:
        try:
            _, chunks = await self.engine.files.get(container_id, path)
        except PouchError:
            return []
        data = b"".join([chunk async for chunk in chunks])
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = next((m for m in tar if m.isreg()), None)
            source = tar.extractfile(member) if member is not None else None
            text = source.read() if source is not None else b""
        return text.decode(errors="replace").splitlines()

    def _heredoc(self, name: str, inline: Mapping[str, str]) -> Path:
        """COPY <<NAME: the here-document as a file of its own name."""
        if name not in inline:
            raise InvalidArgument(f"no here-document {name!r} follows", field="COPY")
        holder = Path(tempfile.mkdtemp(prefix="heredoc-", dir=self.scratch))
        (holder / name).write_text(inline[name])
        return holder / name

    async def _archive(self, archive: Path, dest: str) -> Path:
        """ADD's local archive: its entries re-rooted at ``dest``, extracted."""
        fd, name = tempfile.mkstemp(prefix="add-", suffix=".tar", dir=self.context.root.parent)
        base = dest.strip("/")
        with (
            tarfile.open(archive) as source,
            os.fdopen(fd, "wb") as out,
            tarfile.open(fileobj=out, mode="w") as tar,
        ):
            for member in source:
                data = source.extractfile(member) if member.isreg() else None
                member.name = posixpath.join(base, member.name.lstrip("/"))
                tar.addfile(member, data)
        return Path(name)

    async def _from_image(self, source: str, paths: list[str], dest: str, own: Ownership) -> Path:
        """COPY --from: the files of a stage or an image, re-rooted at ``dest``."""
        image = self.results.get(source.lower()) or await self._image(source)
        holder = await self.engine.create(
            ContainerConfig(
                image=image, entrypoint=[], cmd=["#(nop)"], labels={"io.pouch.build": "from"}
            )
        )
        fd, name = tempfile.mkstemp(prefix="from-", suffix=".tar", dir=self.context.root.parent)
        into_dir = dest.endswith("/") or len(paths) > 1
        base = dest.strip("/")
        try:
            with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w") as tar:
                for path in paths:
                    stat, chunks = await self.engine.files.get(holder.id, path)
                    data = b"".join([chunk async for chunk in chunks])
                    with tarfile.open(fileobj=io.BytesIO(data)) as got:
                        for member in got:
                            top, _, rest = member.name.partition("/")
                            if stat.mode & 0x80000000:  # Go's ModeDir
                                if not rest:
                                    continue
                                member.name = posixpath.join(base, rest)
                            else:
                                member.name = posixpath.join(base, top) if into_dir else base
                            if own.ids is not None:
                                member.uid, member.gid = own.ids
                            if own.mode is not None and not member.issym():
                                member.mode = own.mode
                            tar.addfile(member, got.extractfile(member) if member.isreg() else None)
        finally:
            await self._discard(holder.id)
        return Path(name)

    async def _layer(self, state: _State, tar: Path, created_by: str) -> None:
        if state.image is None:
            made = await self.engine.commits.derive(
                None, config=state.config, created_by=f"/bin/sh -c {created_by}", layer=tar
            )
            state.image = made.id
            return
        holder = await self.engine.create(
            ContainerConfig(
                image=state.image, entrypoint=[], cmd=["#(nop)"], labels={"io.pouch.build": "copy"}
            )
        )
        try:
            await self.engine.files.put(holder.id, "/", tar)
            made = await self.engine.commits.commit(
                holder.id, pause=False, config=state.config, created_by=f"/bin/sh -c {created_by}"
            )
            state.image = made.id
        finally:
            await self._discard(holder.id)


def _triggers(texts: list[str]) -> list[Instruction]:
    """An image's ONBUILD triggers as instructions of the build that uses it."""
    if not texts:
        return []
    from pouch_build._stages import parse

    return list(parse("FROM scratch\n" + "\n".join(texts) + "\n").stages[0].steps)


def _shell_text(step: Instruction) -> str:
    """RUN's shell form: the command, or a lone here-document as the script itself
    (``RUN <<EOF``); a here-document after a command is the shell's own syntax."""
    if step.heredocs and len(step.value) == 1 and step.value[0].startswith("<<"):
        return str(step.heredocs[0].content)
    if step.heredocs:
        return str(step.original).split(None, 1)[1]
    return str(step.value[0])


def _healthcheck(step: Instruction, shell: list[str]) -> ImageHealthcheck:
    if step.value and step.value[0].upper() == "NONE":
        return ImageHealthcheck(Test=["NONE"])
    flags = _flags(step, {"interval", "timeout", "start-period", "start-interval", "retries"})
    command = list(step.value[1:])
    if not command or step.value[0].upper() != "CMD":
        raise ValueError("HEALTHCHECK takes CMD and a command, or NONE")
    test = ["CMD", *command] if step.json else ["CMD-SHELL", " ".join(command)]
    durations = {k: _duration(v) for k, v in flags.items() if k != "retries"}
    return ImageHealthcheck(
        Test=test,
        Interval=durations.get("interval", 0),
        Timeout=durations.get("timeout", 0),
        StartPeriod=durations.get("start-period", 0),
        StartInterval=durations.get("start-interval", 0),
        Retries=int(flags.get("retries", "0") or 0),
    )


def _duration(text: str) -> int:
    """``30s``, ``1m30s``, ``500ms`` → nanoseconds."""
    units = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    total, number = 0, ""
    at = 0
    while at < len(text):
        char = text[at]
        if char.isdigit() or char == ".":
            number += char
            at += 1
            continue
        unit = "ms" if text.startswith("ms", at) else char
        if unit not in units or not number:
            raise ValueError(f"bad duration {text!r}")
        total += int(float(number) * units[unit])
        number, at = "", at + len(unit)
    if number:
        raise ValueError(f"bad duration {text!r}: a unit is missing")
    return total
