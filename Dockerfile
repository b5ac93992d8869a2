# The playbach runtime (server and Pi player): no TensorFlow, only the TFLite interpreter.
#   docker build -t playbach .
#   docker compose up                  (see docker-compose.yml: mosquitto with a password)
# or the server alone, its embedded broker admitting one user, published on this machine only:
#   docker run --rm -p 127.0.0.1:1883:1883 -e PLAYBACH_EMBEDDED_HOST=0.0.0.0 \
#       -e PLAYBACH_BROKER_USERNAME=playbach -e PLAYBACH_BROKER_PASSWORD=... playbach serve
FROM python:3.11-slim

WORKDIR /opt/playbach
ENV PLAYBACH_MODELS=/opt/playbach/models
COPY pyproject.toml README.md ./
COPY shared shared
COPY server server
COPY device device
COPY models models
RUN pip install --no-cache-dir . && useradd --system playbach
USER playbach
ENTRYPOINT ["playbach"]
CMD ["serve"]
