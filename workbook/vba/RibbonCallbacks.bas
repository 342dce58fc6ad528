Attribute VB_Name = "RibbonCallbacks"
Option Explicit
' The GreenApi ribbon tab (customUI/customUI14.xml) calls these.
' Each button runs one function of addin.py: the work is done in Python, none here. Archive, Unarchive,
' Dry run and Undo return at once (a worker process does the calls); Stop ends that run. Verify reads the
' chat list once and hands any sending again to the worker.
' Nothing here runs when the file opens: the help of the worksheet functions is registered when the
' ribbon loads (RibbonLoaded, customUI's onLoad) or, at the latest, at the first button press.

' Windows' answer when a security rule stops Excel from starting a program (xlwings starts Python
' through cmd.exe): run-time error 70, "Permission denied"; through the UDF server, error 1000.
Private Const ERROR_PERMISSION_DENIED As Long = 70
Private Const ERROR_PYTHON_PROCESS As Long = 1000

Sub RibbonLoaded(ribbon As IRibbonUI)
    RegisterFunctionHelp
End Sub

Sub ArchiveChats(control As IRibbonControl)
    Launch "import addin; addin.archive_chats()"
End Sub

Sub UnarchiveChats(control As IRibbonControl)
    Launch "import addin; addin.unarchive_chats()"
End Sub

Sub DryRun(control As IRibbonControl)
    Launch "import addin; addin.dry_run()"
End Sub

Sub LoadChats(control As IRibbonControl)
    Launch "import addin; addin.load_chats()"
End Sub

Sub VerifyChats(control As IRibbonControl)
    Launch "import addin; addin.verify()"
End Sub

Sub UndoLastRun(control As IRibbonControl)
    Launch "import addin; addin.undo_last_run()"
End Sub

Sub StopRun(control As IRibbonControl)
    Launch "import addin; addin.stop_run()"
End Sub

Sub CheckConnection(control As IRibbonControl)
    Launch "import addin; addin.check_connection()"
End Sub

Sub Settings(control As IRibbonControl)
    Launch "import addin; addin.settings()"
End Sub

Private Sub Launch(pythonCommand As String)
    ' RunPython, with the failures Excel itself raises put in plain words. Python's own errors are
    ' shown by addin.py; xlwings shows what Python printed when it could not even start.
    RegisterFunctionHelp
    If ActiveWorkbook Is Nothing Then
        ' The add-in's tab shows with no workbook open; its buttons act on the active one.
        MsgBox Message("GreenApiNoBook"), vbExclamation, "GreenApi"
        Exit Sub
    End If
    On Error GoTo Failed
    RunPython pythonCommand
    Exit Sub
Failed:
    Dim number As Long
    Dim description As String
    number = Err.Number
    description = Err.Description
    On Error GoTo 0
    If number = ERROR_PERMISSION_DENIED Or _
       (number = ERROR_PYTHON_PROCESS And InStr(1, description, "Access is denied", vbTextCompare) > 0) Then
        MsgBox Message("GreenApiBlocked") & vbLf & vbLf & "(" & number & ": " & description & ")", _
               vbCritical, "GreenApi"
    Else
        MsgBox Message("GreenApiNoStart") & vbLf & vbLf & "(" & number & ": " & description & ")", _
               vbCritical, "GreenApi"
    End If
End Sub

Private Function Message(baseName As String) As String
    ' A message in the language this file was built in: the build keeps each of its lines in a hidden
    ' defined name, baseName1, baseName2, ... (VBA text itself is code page 1252: no Cyrillic).
    Dim index As Integer
    Dim formula As String
    Dim lines As String
    On Error GoTo Done
    For index = 1 To 9
        formula = ThisWorkbook.Names(baseName & index).RefersTo
        If Left$(formula, 2) <> "=""" Or Right$(formula, 1) <> """" Then Exit For
        If lines <> "" Then lines = lines & vbLf
        lines = lines & Replace(Mid$(formula, 3, Len(formula) - 3), """""", """")
    Next index
Done:
    Message = lines
End Function
