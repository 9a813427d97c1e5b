-- The current appointments of one patient (by MRN, Ident.IDA) in a window of App_DtTm: the
-- columns of appointments.sql.
-- Parameters: MRN, window start (inclusive), window end (exclusive), both dates.
SELECT
    Schedule.Sch_Id AS Sch_Id,
    Schedule.Pat_ID1 AS Pat_ID1,
    Schedule.App_DtTm AS App_DtTm,
    Schedule.Location AS Location,
    Schedule.Activity AS Activity,
    CPT.Short_Desc AS Activity_Description
FROM Schedule
INNER JOIN Ident ON Ident.Pat_Id1 = Schedule.Pat_ID1
LEFT JOIN CPT ON CPT.Hsp_Code = Schedule.Activity
WHERE Ident.IDA = ? AND Schedule.Version = 0
    AND Schedule.App_DtTm >= ? AND Schedule.App_DtTm < ?
ORDER BY Schedule.Pat_ID1, Schedule.App_DtTm, Schedule.Sch_Id
