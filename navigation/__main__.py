from navigation.cli import main

raise SystemExit(main())
