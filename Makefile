# Two commands for a fresh Debian 12 machine; each installs what is missing first.
#   make run    builds the plugin and runs Mosquitto with it (mosquitto.conf.example)
#   make test   runs the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

APT_PACKAGES := mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients libclang-dev \
                gcc openssl curl ca-certificates
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
CARGO := $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
MOSQUITTO := /usr/sbin/mosquitto
PLUGIN := target/release/libmosquitto_jwt_auth.so

.PHONY: help deps build run test token clean

help:
	@echo "make run    build the plugin and run Mosquitto on localhost:1883 with it"
	@echo "make test   run every test (unit, property, header, real broker)"
	@echo "make token  print a demo token for the broker of 'make run'"

# Debian packages first, then a Rust toolchain if there is none (Debian's cargo is too old
# for this crate, so rustup installs the stable one).
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi
	@if ! [ -x "$(CARGO)" ]; then \
		echo "Installing the Rust toolchain with rustup"; \
		curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal; \
	fi

build: deps
	$(CARGO) build --release

# Run as root, Mosquitto drops to the `mosquitto` user before loading plugins, and that user
# may not read this checkout; the run then keeps root, as a demo on localhost only.
run: build
	@conf=mosquitto.conf.example; \
	if [ "$$(id -u)" = 0 ]; then \
		conf=target/mosquitto.run.conf; \
		{ cat mosquitto.conf.example; echo; echo "user root"; } > $$conf; \
	fi; \
	echo; \
	echo "Demo broker on 127.0.0.1:1883. In another shell:"; \
	echo '  TOKEN=$$(make -s token)'; \
	echo '  mosquitto_sub -h 127.0.0.1 -u alice -P "$$TOKEN" -t "demo/#" -v &'; \
	echo '  mosquitto_pub -h 127.0.0.1 -u alice -P "$$TOKEN" -t demo/alice/hello -m hi'; \
	echo; \
	exec $(MOSQUITTO) -c $$conf

test: deps
	$(CARGO) test

token:
	@scripts/demo-token alice

clean:
	$(CARGO) clean
