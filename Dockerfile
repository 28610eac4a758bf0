# mss-server container image. Not built in this project's CI (no Docker engine
# there); kept deliberately simple. Build: docker build -t mss-server .
# First start: docker run --rm -v mss-data:/data mss-server \
#   mss init --dir /data --domain op.mssante.fr --hostname mail.op.mssante.fr --force
# (then edit /data/mss.toml: listener hosts must be 0.0.0.0 inside a container).
FROM python:3.11-slim-bookworm

RUN useradd --system --create-home --home-dir /home/mss --uid 10001 mss
WORKDIR /opt/mss-server
COPY requirements.lock pyproject.toml README.md ./
COPY server ./server
COPY smtp_gateway ./smtp_gateway
COPY policy ./policy
COPY imap_store ./imap_store
COPY message ./message
COPY directory ./directory
COPY certs ./certs
COPY migrations ./migrations
# Runtime dependencies only, at the exact versions of the lock file.
RUN pip install --no-cache-dir -c requirements.lock .

USER mss
VOLUME ["/data"]
ENV MSS_CONFIG=/data/mss.toml
# 25 MX, 587/465 submission, 143/993 IMAP, 8080 HTTP (standard ports need
# CAP_NET_BIND_SERVICE or a port mapping such as -p 587:2587 with --dev-ports).
EXPOSE 25 587 465 143 993 8080
CMD ["mss", "serve"]
