# ignition-go: a first-boot provisioning tool config-compatible with CoreOS Ignition.
SHELL := /bin/bash
# Go from /usr/local/go/bin when it is not on the PATH (tests run go too)
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.1.0-dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0

.PHONY: all deps test-deps build test unit e2e cross fuzz bench size lint demo clean schema

all: build

# What building and make demo need on a fresh Debian 12 machine: Go (1.26,
# from /usr/local/go on our machines; modules pinned in go.mod/go.sum) and
# the programs the stages run on a loop disk.
DEMO_DEBS := gdisk e2fsprogs util-linux fdisk passwd
deps:
	@command -v $(GO) >/dev/null || { echo "make deps: Go is not installed (need Go 1.26 in /usr/local/go/bin or on the PATH)"; exit 1; }
	@missing=""; for p in $(DEMO_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	$(GO) mod download

# Everything the tests use besides: Debian packages, Azurite from npm, AWS's
# IMDS emulator, a Debian kernel for QEMU guests and a debootstrapped Debian
# root (with udev) for the first boots, all but the packages under .cache/.
DEBS := debhelper lintian grub-pc-bin grub-efi-amd64-bin ovmf qemu-utils openssh-client dpkg-dev tftpd-hpa curl time iproute2 util-linux e2fsprogs debootstrap findutils policycoreutils qemu-system-x86 genisoimage udftools cpio kmod socat gdisk fdisk xfsprogs btrfs-progs dosfstools mtools mdadm cryptsetup-bin dracut-core dracut-network tang clevis clevis-luks jose swtpm clevis-tpm2 tpm2-tools
AZURITE := 3.35.0
EC2MOCK := v1.12.0
test-deps: deps
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make test-deps: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	@[ -x .cache/npm/node_modules/.bin/azurite-blob ] || { echo "make test-deps: installing Azurite $(AZURITE) from npm into .cache/npm"; \
		mkdir -p .cache/npm && npm install --silent --no-audit --no-fund --prefix .cache/npm azurite@$(AZURITE) >/dev/null; }
	@[ -x .cache/bin/ec2-metadata-mock ] || { echo "make test-deps: building amazon-ec2-metadata-mock $(EC2MOCK) into .cache/bin"; \
		mkdir -p .cache/ec2mock .cache/bin && cd .cache/ec2mock && printf 'module ec2mockbuild\ngo 1.26\n' > go.mod && \
		$(GO) get github.com/aws/amazon-ec2-metadata-mock@$(EC2MOCK) >/dev/null 2>&1 && \
		CGO_ENABLED=0 $(GO) build -mod=mod -o ../bin/ec2-metadata-mock github.com/aws/amazon-ec2-metadata-mock/cmd; }
	@[ -n "$$(ls .cache/kernel/root/boot/vmlinuz-* 2>/dev/null)" ] || { \
		pkg=$$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $$2; exit}'); \
		if [ -z "$$pkg" ]; then apt-get update -qq; pkg=$$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $$2; exit}'); fi; \
		echo "make test-deps: extracting the guest kernel $$pkg into .cache/kernel"; \
		mkdir -p .cache/kernel && cd .cache/kernel && apt-get download $$pkg >/dev/null && \
		dpkg -x $${pkg}_*.deb root && /usr/sbin/depmod -b root $${pkg#linux-image-} && rm -f $${pkg}_*.deb; }
	@[ -x .cache/debroot/usr/bin/systemctl ] && [ -x .cache/debroot/usr/bin/udevadm ] || { \
		echo "make test-deps: debootstrapping a Debian root into .cache/debroot (about 40 s)"; \
		rm -rf .cache/debroot.new && debootstrap --variant=minbase --include=systemd,systemd-sysv,passwd,udev bookworm .cache/debroot.new \
		$$(awk '/^URIs:/ {print $$2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo http://deb.debian.org/debian) >/dev/null && \
		rm -rf .cache/debroot && mv .cache/debroot.new .cache/debroot; }

build: deps
	@mkdir -p bin
	$(GOBUILD) -o bin/ignition-validate ./validate
	$(GOBUILD) -o bin/ignition ./cmd/ignition
	$(GOBUILD) -o bin/ignition-kargs-helper ./cmd/ignition-kargs-helper

test: build test-deps unit e2e cross fuzz lint deb-lint
	@echo "make test: all passed"

# CI=1 turns every test that cannot run here into a failure, not a skip.
unit: test-deps
	$(GO) test -count=1 -timeout 25m -skip '^TestE2E' ./...

# Whole first boots in QEMU (TCG): a dracut initramfs with our module, a
# Debian root; one boot after another, each under its own timeout.
e2e: test-deps
	$(GO) test -count=1 -timeout 60m -v -run '^TestE2E' ./tests/qemu/

# config/ and validate/ must build for every platform CI pipelines run on.
cross:
	@for os in linux darwin windows; do \
		echo "GOOS=$$os go build ./config/... ./validate/..."; \
		GOOS=$$os GOARCH=amd64 CGO_ENABLED=0 $(GO) build -o /dev/null ./config/... || exit 1; \
		GOOS=$$os GOARCH=amd64 CGO_ENABLED=0 $(GO) build -o /dev/null ./validate/ || exit 1; \
	done

# A short fuzz run of parse+validate on top of the committed seed corpus.
# The differential targets hold our data URL, semver and unit-template checks
# to the libraries Ignition uses (linked into tests only). Runs are sized in
# executions, not seconds: a time-bounded run can lose a race between the
# fuzz coordinator and its own deadline on a loaded machine and fail with
# "context deadline exceeded" (golang/go#75804); a count cannot. Here
# (2 cores, busy) the whole target takes under a minute.
FUZZEXECS ?= 200000x
fuzz:
	$(GO) test ./config/ -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZEXECS)
	$(GO) test ./config/ -run '^$$' -fuzz '^FuzzDataURL$$' -fuzztime 50000x
	$(GO) test ./config/ -run '^$$' -fuzz '^FuzzParseSemver$$' -fuzztime 50000x
	$(GO) test ./config/ -run '^$$' -fuzz '^FuzzTemplateOf$$' -fuzztime 50000x

bench:
	$(GO) test ./config/ -run '^$$' -bench . -benchmem -benchtime 5x
	$(GO) test ./stages/disks/ -run '^$$' -bench . -benchmem
	$(GO) test ./providers/detect/ -run '^$$' -bench . -benchmem
	$(GO) test ./internal/gpt/ -run '^$$' -bench . -benchmem
	$(GO) test ./stages/ -run '^$$' -bench RenderFragment -benchmem
	./tests/bench/cli.sh
	./tests/bench/fetch.sh
	./tests/bench/files.sh
	./tests/bench/disks.sh
	./tests/bench/disks4.sh

size: build
	@ls -l bin/ | awk 'NR>1 {printf "%-22s %6.2f MB (stripped)\n", $$9, $$5/1e6}'
	@$(GOBUILD) -o /tmp/ignition-go-fetchprobe ./tests/bench/fetchbench && \
		ls -l /tmp/ignition-go-fetchprobe | awk '{printf "%-22s %6.2f MB (stripped; a probe linking the whole resource fetcher)\n", "resource fetcher", $$5/1e6}' && \
		rm -f /tmp/ignition-go-fetchprobe

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

schema:
	$(GO) generate ./config

demo: build
	@./tests/demo.sh

clean:
	rm -rf bin

# The Debian package (debian/, debhelper): build/ignition-go_<version>_amd64.deb.
# The version is git describe made Debian-valid (debian/version.sh). The package is
# built from a copy of the work tree (tracked and new files) in build/deb/,
# its Go binaries by make build from the module cache (docs/image.md).
DEB_VERSION ?= $(shell ./debian/version.sh)
DEB := build/ignition-go_$(DEB_VERSION)_amd64.deb
.PHONY: deb deb-lint image
deb: deps
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null || { echo "make deb: needs dpkg-dev and debhelper (make test-deps installs them)"; exit 1; }
	@rm -rf build/deb && mkdir -p build/deb/src
	@git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C build/deb/src
	@sed -i '1s/(.*)/($(DEB_VERSION))/' build/deb/src/debian/changelog
	cd build/deb/src && GOMODCACHE=$$($(GO) env GOMODCACHE) GOCACHE=$$($(GO) env GOCACHE) \
		dpkg-buildpackage -b -us -uc >../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	@rm -f build/ignition-go_*_amd64.deb && cp build/deb/ignition-go_$(DEB_VERSION)_amd64.deb $(DEB)
	@echo "make deb: $(DEB) ($$(du -k $(DEB) | cut -f1) KiB)"

# lintian on the package, every warning and error fatal (the overrides in
# debian/ignition-go.lintian-overrides each say why)
deb-lint: deb
	lintian --fail-on error,warning --display-info $(DEB)

# A bootable Debian 12 image with the package installed and the first-boot
# stamp set, in build/image/ (raw and qcow2); image/build.sh says how.
image: deb
	DEB=$(DEB) ./image/build.sh
