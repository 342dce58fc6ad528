from greenapi_excel.cli import main

raise SystemExit(main())
