PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HTMX_VERSION := 2.0.11

.PHONY: run test test-dates lint bench clean lock audit translations

# What runs comes from requirements.lock (exact versions, hashes checked), as on Heroku; the
# development tools (pytest, ruff, ...) are added on top from pyproject.toml's ranges.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# After changing pyproject.toml's dependencies: pin them again (pip-tools, with hashes).
lock:
	test -x $(VENV)/bin/pip-compile || $(PY) -m pip install --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

# Known vulnerabilities in the locked set; needs the internet (PyPI's and OSV's databases).
audit:
	test -x $(VENV)/bin/pip-audit || $(PY) -m pip install --quiet pip-audit
	$(VENV)/bin/pip-audit --require-hashes --disable-pip -r requirements.lock

run: $(STAMP)
	$(PY) -m flask --app webapp db upgrade
	exec $(PY) -m webapp.launcher

# The local copy of htmx the browser tests serve in place of the CDN (skipped without npm).
node_modules/htmx.org/dist/htmx.min.js:
	-command -v npm >/dev/null && npm install --no-save --no-audit --no-fund htmx.org@$(HTMX_VERSION)

test: $(STAMP) node_modules/htmx.org/dist/htmx.min.js
	$(VENV)/bin/ruff check .
	@echo "== SQLite + embedded Redis =="
	env -u TEST_DATABASE_URL -u TEST_REDIS_URL $(PY) -m pytest
	@if [ -n "$$TEST_DATABASE_URL" ] || [ -n "$$TEST_REDIS_URL" ]; then \
		echo "== $$TEST_DATABASE_URL + $$TEST_REDIS_URL =="; \
		$(PY) -m pytest; \
	fi

# The SQLite leg again a year back and a year ahead of today: whatever reads the wall clock
# instead of the tests' clock (ADMIT_TEST_NOW) fails at once instead of on some later date.
# The year back keeps today's time of day; the year ahead is 2 s before that day's midnight,
# the end of an hour, a day and every 15-minute window, where an edge case shows every time
# instead of one run in fifteen (CI once drew a log-in lock's last 30 s by chance).
# These legs look for dates, not races: the random month is shorter there.
test-dates: $(STAMP) node_modules/htmx.org/dist/htmx.min.js
	@for at in "-365 days|%H:%M:%S" "365 days|23:59:58"; do \
		now=$$(date -u -d "$${at%%|*}" +%Y-%m-%dT$${at#*|}Z); \
		echo "== SQLite + embedded Redis, ADMIT_TEST_NOW=$$now =="; \
		ADMIT_TEST_NOW=$$now ADMIT_INVARIANT_EVENTS=60 env -u TEST_DATABASE_URL -u TEST_REDIS_URL $(PY) -m pytest -q || exit 1; \
	done

# The bot's gettext catalogues (webapp/translations): extract the messages from the code, merge
# them into each language's .po (a changed message comes back fuzzy, which fails the tests until
# a translator confirms it), compile the .mo files the processes read. Both are committed.
# The dashboard's marked strings go to dashboard.pot only: it stays English for now. Only its own
# markers count there (N_ marks the bot's messages; webapp.i18n.gettext(language, ...) reads them).
BOT_LANGUAGES := en ru es pt_BR uk
PYBABEL := $(VENV)/bin/pybabel
translations: $(STAMP)
	$(PYBABEL) extract -F babel-bot.cfg --no-default-keywords -k gettext:2 -k ngettext:2,3 -k N_ \
		--no-location --sort-by-file --project Admit -o webapp/translations/bot.pot .
	@for lang in $(BOT_LANGUAGES); do \
		test -f webapp/translations/$$lang/LC_MESSAGES/bot.po || \
			$(PYBABEL) init -D bot -i webapp/translations/bot.pot -d webapp/translations -l $$lang; \
		$(PYBABEL) update -D bot -i webapp/translations/bot.pot -d webapp/translations -l $$lang \
			--width 100 --ignore-pot-creation-date; \
	done
	$(PYBABEL) compile -D bot -d webapp/translations --statistics
	$(PYBABEL) extract -F babel-dashboard.cfg --no-default-keywords -k _ -k gettext -k ngettext:1,2 \
		-k lazy_gettext -k _l -k D_ -k ND_:1,2 --sort-by-file --project Admit \
		-o webapp/translations/dashboard.pot .

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules test-output
