# Two images. The default (last) target is the controller image: only the runtime dependencies,
# running as a non-root user. The `sandbox` target adds the `sandbox` extra (moto, the AWS-like
# proxy, the Kubernetes API stand-in) for docker-compose.yml's sandbox services.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY framework ./framework
COPY controller ./controller
RUN pip install --no-cache-dir --prefix=/install .

FROM build AS sandbox-build
RUN pip install --no-cache-dir --prefix=/sandbox-install '.[sandbox]'

FROM python:3.11-slim AS sandbox
COPY --from=sandbox-build /sandbox-install /usr/local
# A named volume mounted here starts with this directory's owner, so the stand-in (this user)
# can write the kubeconfig the other services read.
RUN mkdir /sandbox && chown 65532:65532 /sandbox
USER 65532:65532

FROM python:3.11-slim
COPY --from=build /install /usr/local
USER 65532:65532
ENTRYPOINT ["aws-lb-sg-controller"]
