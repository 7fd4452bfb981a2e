from b2tui.entry import main

raise SystemExit(main())
