from b2tui.cli import main

raise SystemExit(main())
