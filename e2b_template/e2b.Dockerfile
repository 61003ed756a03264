# Sandbox Portal - E2B sandbox template.
#
# Build with E2B:   python -m e2b_template.build   (or `e2b template build` in this directory)
# Build locally:    docker build -f e2b.Dockerfile -t sandbox-portal-template .
# Run locally:      docker run --rm -it --privileged -p 20000:20000 -p 1080:1080 sandbox-portal-template
#                   (--privileged only because the image runs its own Docker daemon)
#
# E2B converts this file step by step (single stage only; RUN, COPY, ENV, ARG, USER and
# WORKDIR are honoured, EXPOSE is documentation). No USER is set at the end on purpose:
# E2B then switches to its default `user` (passwordless sudo), and start-services.sh
# re-executes itself through sudo.
#
# Ubuntu 24.04 rather than 22.04: current MailCatcher dependencies need Ruby >= 3.1, and
# 22.04 ships Ruby 3.0.
FROM ubuntu:24.04

ARG DEBIAN_FRONTEND=noninteractive
ENV LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    TZ=Etc/UTC \
    NPM_CONFIG_PREFIX=/usr/local \
    PLAYWRIGHT_BROWSERS_PATH=/ms-playwright \
    UV_PYTHON=3.11 \
    PGHOST=localhost \
    PGPORT=5432 \
    PGUSER=postgres \
    PREVIEW_PORT=20000 \
    PREVIEW_UPSTREAM=localhost:3000

# Base system and development tools: git, curl, wget, build-essential.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential \
        ca-certificates \
        curl \
        git \
        gnupg \
        iproute2 \
        jq \
        less \
        locales \
        lsof \
        netcat-openbsd \
        openssh-client \
        procps \
        software-properties-common \
        sudo \
        tzdata \
        unzip \
        vim-tiny \
        wget \
        xz-utils \
        zip \
    && install -d -m 0755 /etc/apt/keyrings \
    && rm -rf /var/lib/apt/lists/*

# Third-party apt repositories: NodeSource (Node.js 20), PostgreSQL (PGDG), Docker, Caddy,
# and deadsnakes (Python 3.11 on Ubuntu 24.04, whose system Python is 3.12).
RUN . /etc/os-release \
    && curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key \
        | gpg --dearmor -o /etc/apt/keyrings/nodesource.gpg \
    && echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_20.x nodistro main" \
        > /etc/apt/sources.list.d/nodesource.list \
    && curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc \
        | gpg --dearmor -o /etc/apt/keyrings/postgresql.gpg \
    && echo "deb [signed-by=/etc/apt/keyrings/postgresql.gpg] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && curl -fsSL https://download.docker.com/linux/ubuntu/gpg \
        | gpg --dearmor -o /etc/apt/keyrings/docker.gpg \
    && echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu ${VERSION_CODENAME} stable" \
        > /etc/apt/sources.list.d/docker.list \
    && curl -fsSL https://dl.cloudsmith.io/public/caddy/stable/gpg.key \
        | gpg --dearmor -o /etc/apt/keyrings/caddy-stable.gpg \
    && echo "deb [signed-by=/etc/apt/keyrings/caddy-stable.gpg] https://dl.cloudsmith.io/public/caddy/stable/deb/debian any-version main" \
        > /etc/apt/sources.list.d/caddy-stable.list \
    && add-apt-repository -y --no-update ppa:deadsnakes/ppa \
    && rm -rf /var/lib/apt/lists/*

# Services and runtimes from apt:
# Node.js 20, Python 3.11, PostgreSQL 15, Redis, Ruby (for MailCatcher), Caddy, Docker
# Engine with the Compose and Buildx plugins.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        nodejs \
        python3.11 \
        python3.11-dev \
        python3.11-venv \
        postgresql-15 \
        postgresql-client-15 \
        redis-server \
        ruby \
        ruby-dev \
        libsqlite3-dev \
        libssl-dev \
        caddy \
        docker-ce \
        docker-ce-cli \
        containerd.io \
        docker-buildx-plugin \
        docker-compose-plugin \
        iptables \
    && rm -rf /var/lib/apt/lists/* \
    && node --version | grep -q '^v20\.' \
    && psql --version | grep -q ' 15\.'

# Python 3.11 as the default `python`/`python3` on PATH (the distro's /usr/bin/python3 stays
# 3.12 for apt's own tools), with pip and uv.
RUN rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
    && curl -fsSL https://bootstrap.pypa.io/get-pip.py -o /tmp/get-pip.py \
    && python3.11 /tmp/get-pip.py --no-cache-dir --root-user-action=ignore \
    && rm -f /tmp/get-pip.py \
    && ln -sf /usr/bin/python3.11 /usr/local/bin/python3 \
    && ln -sf /usr/bin/python3.11 /usr/local/bin/python \
    && python3.11 -m pip install --no-cache-dir --root-user-action=ignore uv \
    && python3 --version | grep -q '^Python 3\.11\.' \
    && pip --version \
    && uv --version

# Node.js package managers and global CLIs: pnpm, yarn, the OpenCode CLI, Playwright.
# Global npm packages go to /usr/local (NPM_CONFIG_PREFIX), on PATH next to pip's.
RUN npm install -g --no-fund --no-audit \
        pnpm@12 \
        yarn@1.22.22 \
        opencode-ai@1.18.33 \
        playwright@1.65.1 \
    && npm cache clean --force \
    && pnpm --version \
    && yarn --version \
    && command -v opencode

# Playwright's Chromium and its system libraries, shared through PLAYWRIGHT_BROWSERS_PATH.
# A project that pins Playwright 1.65.1 (npm `playwright`, PyPI `playwright`) reuses it.
RUN playwright install --with-deps chromium \
    && chmod -R a+rX "${PLAYWRIGHT_BROWSERS_PATH}" \
    && rm -rf /var/lib/apt/lists/*

# MailCatcher: SMTP on 1025, web UI on 1080.
RUN gem install --no-document mailcatcher \
    && command -v mailcatcher

# PostgreSQL 15 on localhost:5432, user `postgres`, no password (trust authentication).
RUN pg_conftool 15 main set listen_addresses localhost \
    && pg_conftool 15 main set port 5432 \
    && printf '%s\n' \
        '# Sandbox-only: every local connection is trusted, no passwords.' \
        'local   all   all                 trust' \
        'host    all   all   127.0.0.1/32  trust' \
        'host    all   all   ::1/128       trust' \
        > /etc/postgresql/15/main/pg_hba.conf \
    && chown postgres:postgres /etc/postgresql/15/main/pg_hba.conf \
    && chmod 0640 /etc/postgresql/15/main/pg_hba.conf

# Docker: legacy iptables (microVM kernels often lack nf_tables), `docker-compose` as an
# alias of the Compose plugin, and the default `user` in the docker and sudo groups.
RUN update-alternatives --set iptables /usr/sbin/iptables-legacy \
    && update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy \
    && ln -sf /usr/libexec/docker/cli-plugins/docker-compose /usr/local/bin/docker-compose \
    && docker compose version \
    && if id ubuntu >/dev/null 2>&1; then userdel ubuntu && rm -rf /home/ubuntu; fi \
    && if ! id user >/dev/null 2>&1; then useradd --create-home --shell /bin/bash user; fi \
    && usermod -aG sudo,docker user \
    && echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/90-user \
    && chmod 0440 /etc/sudoers.d/90-user

# Caddy serves the dev-server preview on :20000 (see Caddyfile).
COPY Caddyfile /etc/caddy/Caddyfile
COPY start-services.sh /usr/local/bin/start-services.sh
RUN chmod 0644 /etc/caddy/Caddyfile \
    && chmod 0755 /usr/local/bin/start-services.sh \
    && caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile

# PostgreSQL, Redis, SMTP, MailCatcher web UI, preview proxy.
EXPOSE 5432 6379 1025 1080 20000

# E2B's start command is set in template.py / e2b.toml (without --foreground);
# under `docker run` the script keeps running as the container's main process.
CMD ["/usr/local/bin/start-services.sh", "--foreground"]
