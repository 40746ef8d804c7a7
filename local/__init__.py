"""The local tooling, one package run as `python -m local.<tool>` from the repository root:

- common: paths, the demo key, fake AWS credentials, ports, stopping process trees, the
  function's variables (docs/function-variables.json);
- moto: the one launcher of moto's server and the one client for seeding it;
- report: the one report style of the test harnesses (run, dev_check, deploy.rehearsal);
- stack: the stand-ins and an emulator around the function binary;
- run (make local, the end-to-end run), invoke (make invoke), dev (make dev), dev_check
  (its test), issuer and mint_token (make token), parsec_standin, scenarios.
"""
