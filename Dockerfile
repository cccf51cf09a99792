# reptile-gen in a CUDA image. Build: docker build -t reptile-gen .
# Check: docker run --gpus all reptile-gen doctor --run --require-gpu
# Run:   docker run --gpus all -v "$PWD:/runs" reptile-gen train --config mnist-lstm-reptile
# The kernels are compiled here with nvcc, the NVTX shim and the forwarding libraries for cuBLAS and cuDNN with cc.
# At run time the driver (libcuda) comes from the host; cuBLAS 13 and cuDNN 9, for the lstm baseline's cuda path,
# come with the runtime image below (its cudnn variant: the runtime libraries of CUDA 13 plus cuDNN 9).
FROM nvidia/cuda:13.0.0-devel-ubuntu24.04 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pom.xml ./
RUN mvn -B -q dependency:go-offline
COPY . .
# The tests' simulated driver is not needed in the image.
RUN mvn -B -q package -Dmaven.test.skip=true

FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/reptile-gen.jar /opt/reptile-gen/reptile-gen.jar
COPY --from=build /src/target/lib /opt/reptile-gen/lib
WORKDIR /runs
# Java takes file names in the locale's encoding: without a UTF-8 locale a name like "données" cannot be opened.
ENV LANG=C.UTF-8
ENTRYPOINT ["java", "-jar", "/opt/reptile-gen/reptile-gen.jar"]
CMD ["--help"]
