# ftcp — every target does its own set-up (idempotent), so each works on a fresh clone.
.PHONY: setup build test test-unit bench demo typecheck clean

setup:
	@bash scripts/setup.sh

build:
	@npm run --silent build

typecheck:
	@npx tsc -p tsconfig.test.json

test: setup
	@npx tsc -p tsconfig.test.json
	@npx vitest run

test-unit:
	@npx vitest run --project unit

bench: setup
	@bash scripts/bench/run-all.sh

demo: setup
	@bash scripts/demo.sh

clean:
	rm -rf dist native/build
