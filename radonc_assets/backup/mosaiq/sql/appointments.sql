-- The current appointments (Schedule.Version = 0) of a window of App_DtTm, with the
-- description of their activity (CPT.Short_Desc of Schedule.Activity = CPT.Hsp_Code).
-- Parameters: window start (inclusive), window end (exclusive), both dates, then an MRN
-- (Ident.IDA) twice, or NULL twice for every patient.
SELECT
    Schedule.Sch_Id AS Sch_Id,
    Schedule.Pat_ID1 AS Pat_ID1,
    Schedule.App_DtTm AS App_DtTm,
    Schedule.Location AS Location,
    Schedule.Activity AS Activity,
    CPT.Short_Desc AS Activity_Description
FROM Schedule
LEFT JOIN CPT ON CPT.Hsp_Code = Schedule.Activity
LEFT JOIN Ident ON Ident.Pat_Id1 = Schedule.Pat_ID1
WHERE Schedule.Version = 0 AND Schedule.App_DtTm >= ? AND Schedule.App_DtTm < ?
    AND (? IS NULL OR Ident.IDA = ?)
ORDER BY Schedule.Pat_ID1, Schedule.App_DtTm, Schedule.Sch_Id
