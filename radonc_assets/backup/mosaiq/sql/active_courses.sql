-- Every delivery up to a date of the courses treated in a window before it, for the census of
-- active courses (radonc_assets.backup.mosaiq.queries.active_courses decides which are active).
-- A course is a Mosaiq site (TxField.SIT_Set_ID, the prescription): its whole history up to the
-- date is returned, so that its first treatment and fraction count are right when it began
-- before the window. Fields without a site belong to no course.
-- Parameters: window start (inclusive), window end (exclusive), then the end again, all dates.
-- Columns: radonc_assets.backup.mosaiq.queries.COURSE_DELIVERY_COLUMNS, one row per Dose_Hst
-- delivery (a plan imported twice into DCMInstance repeats it, the first row counts).
-- FLD_HST, when it names a field for the delivery, is the field version delivered, otherwise
-- Dose_Hst.FLD_ID is. Version = 0 selects the current row of Site.
SELECT
    Dose_Hst.DHS_ID AS DHS_ID,
    Dose_Hst.Pat_ID1 AS Pat_ID1,
    Dose_Hst.Tx_DtTm AS Tx_DtTm,
    Dose_Hst.Fractions_Tx AS Fraction_Number,
    Ident.IDA AS MRN,
    Patient.Last_Name AS Last_Name,
    Patient.First_Name AS First_Name,
    Patient.MIddle_Name AS Middle_Name,
    Patient.Suffix AS Suffix,
    TxField.SIT_Set_ID AS Sit_Set_ID,
    Site.Site_Name AS Site_Name,
    Site.Fractions AS Fractions_Planned,
    RtPlan.Label AS Plan_Label,
    Staff.Last_Name AS Machine_Name,
    Machine.Source_Name AS Machine_Source_Name
FROM Dose_Hst
LEFT JOIN FLD_HST ON FLD_HST.DHS_ID = Dose_Hst.DHS_ID
INNER JOIN TxField ON TxField.FLD_ID = COALESCE(FLD_HST.FLD_ID, Dose_Hst.FLD_ID)
LEFT JOIN Ident ON Ident.Pat_Id1 = Dose_Hst.Pat_ID1
LEFT JOIN Patient ON Patient.Pat_ID1 = Dose_Hst.Pat_ID1
LEFT JOIN Site ON Site.SIT_SET_ID = TxField.SIT_Set_ID AND Site.Version = 0
LEFT JOIN DCMInstance ON DCMInstance.SOPInstanceUID = TxField.OriginalPlanUID
LEFT JOIN RtPlan ON RtPlan.DCMInstance_ID = DCMInstance.DCMInstance_ID
    AND RtPlan.Pat_ID1 = Dose_Hst.Pat_ID1
LEFT JOIN Staff ON Staff.Staff_ID = TxField.Machine_ID_Staff_ID
LEFT JOIN Machine ON Machine.MAC_ID = TxField.Machine_ID_Staff_ID
WHERE TxField.SIT_Set_ID IN (
        SELECT RecentField.SIT_Set_ID
        FROM Dose_Hst AS Recent
        LEFT JOIN FLD_HST AS RecentHst ON RecentHst.DHS_ID = Recent.DHS_ID
        INNER JOIN TxField AS RecentField
            ON RecentField.FLD_ID = COALESCE(RecentHst.FLD_ID, Recent.FLD_ID)
        WHERE Recent.Tx_DtTm >= ? AND Recent.Tx_DtTm < ?
    )
    AND Dose_Hst.Tx_DtTm < ?
ORDER BY
    Dose_Hst.Pat_ID1,
    TxField.SIT_Set_ID,
    Dose_Hst.Tx_DtTm,
    Dose_Hst.DHS_ID,
    DCMInstance.DCMInstance_ID
