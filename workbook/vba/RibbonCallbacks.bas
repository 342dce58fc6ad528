Attribute VB_Name = "RibbonCallbacks"
Option Explicit
' The GreenApi ribbon tab (customUI/customUI14.xml) calls these.
' Each runs one function of addin.py: the work is done in Python, none here. Archive, Unarchive, Dry run
' and Undo return at once (a worker process does the calls); Stop ends that run.

Sub ArchiveChats(control As IRibbonControl)
    RunPython "import addin; addin.archive_chats()"
End Sub

Sub UnarchiveChats(control As IRibbonControl)
    RunPython "import addin; addin.unarchive_chats()"
End Sub

Sub DryRun(control As IRibbonControl)
    RunPython "import addin; addin.dry_run()"
End Sub

Sub LoadChats(control As IRibbonControl)
    RunPython "import addin; addin.load_chats()"
End Sub

Sub UndoLastRun(control As IRibbonControl)
    RunPython "import addin; addin.undo_last_run()"
End Sub

Sub StopRun(control As IRibbonControl)
    RunPython "import addin; addin.stop_run()"
End Sub

Sub CheckConnection(control As IRibbonControl)
    RunPython "import addin; addin.check_connection()"
End Sub

Sub Settings(control As IRibbonControl)
    RunPython "import addin; addin.settings()"
End Sub
