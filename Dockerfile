# The b2tui image: a slim Python base, the wheel, a non-root user.
#   docker build -t b2tui:0.1.0 .
#   docker run --rm b2tui:0.1.0 --version
# BASE may name a local or mirrored image with Python >= 3.11 (BASE=python:3.11-slim).
ARG BASE=python:3.11-slim

FROM ${BASE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY b2tui ./b2tui
COPY styles ./styles
# The wheel and every dependency's wheel; the runtime stage installs from them only.
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${BASE}
RUN groupadd --gid 10001 b2tui \
 && useradd --uid 10001 --gid 10001 --home-dir /home/b2tui --create-home --shell /usr/sbin/nologin b2tui
COPY --from=wheel /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links /wheels b2tui \
 && rm -rf /wheels
USER 10001:10001
WORKDIR /home/b2tui
# The kube store keeps runs in the cluster; anything local goes to /tmp (an emptyDir in
# deploy/job.yaml, whose root filesystem is read-only).
ENV XDG_STATE_HOME=/tmp/b2tui-state PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["b2tui"]
CMD ["run", "--headless", "--json"]
