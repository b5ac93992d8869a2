# The playbach runtime (server and Pi player): no TensorFlow, only the TFLite interpreter.
#   docker build -t playbach .
#   docker run --rm -p 1883:1883 playbach serve --embedded-host 0.0.0.0
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
